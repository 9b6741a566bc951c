import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import {
  applySsoDirection,
  getPeerIdentitySettings,
  parseSsoDirection,
  ssoDirectionOf,
  updatePeerIdentitySettings,
  type PeerIdentitySettings,
} from '../../../src/identity/peer-settings.js';
import { findPeer, savePeer, type Peer } from '../../../src/mnet/peers.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { faultCodeOf, faultOf } from '../../helpers/faults.js';
import { MOODLE_CERT } from '../../helpers/fixtures.js';

/** The per-peer identity flags and Mahara's SSO-direction rule (§9.1 auth_instance_config). */
const ALL_OFF: PeerIdentitySettings = {
  theySsoIn: false,
  weSsoOut: false,
  weAutoCreateUsers: false,
  theyAutoCreateUsers: false,
  updateUserInfoOnLogin: false,
  weImportContent: false,
};
const ALL_ON: PeerIdentitySettings = {
  theySsoIn: true,
  weSsoOut: true,
  weAutoCreateUsers: true,
  theyAutoCreateUsers: true,
  updateUserInfoOnLogin: true,
  weImportContent: true,
};

describe('applySsoDirection', () => {
  it('theyssoin: sets theySsoIn, clears weSsoOut and theyAutoCreateUsers, keeps the SP flags', () => {
    expect(applySsoDirection(ALL_ON, 'theyssoin')).toEqual({ ...ALL_ON, weSsoOut: false, theyAutoCreateUsers: false });
  });

  it('wessoout: sets weSsoOut, clears theySsoIn and the SP flags, keeps theyAutoCreateUsers', () => {
    expect(applySsoDirection(ALL_ON, 'wessoout')).toEqual({ ...ALL_OFF, weSsoOut: true, theyAutoCreateUsers: true });
  });

  it('none: clears both directions and keeps every other flag', () => {
    expect(applySsoDirection(ALL_ON, 'none')).toEqual({ ...ALL_ON, theySsoIn: false, weSsoOut: false });
  });

  it('sets exactly one direction flag from any start', () => {
    for (const start of [ALL_OFF, ALL_ON]) {
      expect(ssoDirectionOf(applySsoDirection(start, 'theyssoin'))).toBe('theyssoin');
      expect(ssoDirectionOf(applySsoDirection(start, 'wessoout'))).toBe('wessoout');
      expect(ssoDirectionOf(applySsoDirection(start, 'none'))).toBe('none');
    }
  });
});

describe('parseSsoDirection', () => {
  it('accepts the three directions and refuses anything else with InvalidInput', () => {
    expect(parseSsoDirection('theyssoin')).toBe('theyssoin');
    expect(parseSsoDirection('wessoout')).toBe('wessoout');
    expect(parseSsoDirection('none')).toBe('none');
    expect(faultCodeOf(() => parseSsoDirection('TheySsoIn'))).toBe(FaultCode.InvalidInput);
  });
});

describe.each(engines)('peer identity settings ($name)', (engine) => {
  let testDb: TestDb;
  let peer: Peer;

  beforeAll(async () => {
    testDb = await engine.create();
    peer = await savePeer(
      testDb.db,
      { wwwroot: 'https://lms.example.edu', name: 'LMS', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') },
      new Date(),
    );
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  const db = () => testDb.db;

  it('starts with every flag off (a missing Mahara config row means 0)', async () => {
    expect(peer.settings).toEqual(ALL_OFF);
    expect(await getPeerIdentitySettings(db(), peer.id)).toEqual(ALL_OFF);
  });

  it('applies the direction, then the flags, and the cached peer shows the change at once', async () => {
    await findPeer(db(), peer.wwwroot); // fills the peer cache
    const settings = await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'theyssoin', weAutoCreateUsers: true, weImportContent: true });
    const expected = { ...ALL_OFF, theySsoIn: true, weAutoCreateUsers: true, weImportContent: true };
    expect(settings).toEqual(expected);
    expect(await getPeerIdentitySettings(db(), peer.id)).toEqual(expected);
    expect((await findPeer(db(), peer.wwwroot))!.settings).toEqual(expected);
  });

  it('changes single flags without touching the direction', async () => {
    const settings = await updatePeerIdentitySettings(db(), peer.id, { updateUserInfoOnLogin: true, weAutoCreateUsers: false });
    expect(settings).toEqual({ ...ALL_OFF, theySsoIn: true, weImportContent: true, updateUserInfoOnLogin: true });
  });

  it('switching to wessoout clears theySsoIn and the SP flags', async () => {
    const settings = await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'wessoout', theyAutoCreateUsers: true });
    expect(settings).toEqual({ ...ALL_OFF, weSsoOut: true, theyAutoCreateUsers: true });
    expect((await findPeer(db(), peer.wwwroot))!.settings).toEqual(settings);
  });

  it('switching back to theyssoin clears weSsoOut and theyAutoCreateUsers', async () => {
    const settings = await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'theyssoin' });
    expect(settings).toEqual({ ...ALL_OFF, theySsoIn: true });
  });

  it('none turns both directions off and keeps the other flags', async () => {
    await updatePeerIdentitySettings(db(), peer.id, { weImportContent: true });
    const settings = await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'none' });
    expect(settings).toEqual({ ...ALL_OFF, weImportContent: true });
  });

  it('refuses a flag the chosen direction clears, and writes nothing', async () => {
    const before = await getPeerIdentitySettings(db(), peer.id);
    expect(await faultOf(updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'wessoout', weImportContent: true }))).toBe(FaultCode.InvalidInput);
    expect(await faultOf(updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'theyssoin', theyAutoCreateUsers: true }))).toBe(FaultCode.InvalidInput);
    expect(await getPeerIdentitySettings(db(), peer.id)).toEqual(before);
  });

  it('allows turning off a flag of the other direction together with a direction', async () => {
    const settings = await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'wessoout', weImportContent: false });
    expect(settings).toEqual({ ...ALL_OFF, weSsoOut: true });
  });

  it('an unknown peer is PeerNotFound', async () => {
    expect(await faultOf(getPeerIdentitySettings(db(), 999_999))).toBe(FaultCode.PeerNotFound);
    expect(await faultOf(updatePeerIdentitySettings(db(), 999_999, { weImportContent: true }))).toBe(FaultCode.PeerNotFound);
  });
});
