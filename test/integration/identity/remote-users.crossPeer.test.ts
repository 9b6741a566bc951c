import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairPeers } from '../../../src/identity/peer-settings.js';
import { findOrCreateRemoteUser, findRemoteUser, type RemoteProfile } from '../../../src/identity/remote-users.js';
import { FaultCode } from '../../../src/errors.js';
import { faultOf } from '../../helpers/faults.js';
import { createUser } from '../../../src/identity/users.js';
import { createLogger } from '../../../src/log.js';
import { savePeer, type ApplicationName, type Peer } from '../../../src/mnet/peers.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MAHARA_CERT, MOODLE_CERT } from '../../helpers/fixtures.js';

/**
 * One person across a Moodle and a SchoolTool peer (§10): a new remote identity links to the account whose
 * student id is the idnumber when one side is a SchoolTool peer; two Moodle peers stay separate.
 */
const T0 = new Date('2024-03-01T10:00:00Z');
const CREATE = { create: true, updateProfile: false, now: T0 } as const;

function profile(username: string, idnumber: string): RemoteProfile {
  return { username, firstname: 'Jo', lastname: 'Smith', email: `${username}@example.edu`, idnumber };
}

async function addPeer(db: Knex, wwwroot: string, application: ApplicationName, pem: string): Promise<Peer> {
  return savePeer(db, { wwwroot, name: wwwroot, application, publicKeyPem: pem, publicKeyExpires: new Date('2099-01-01') }, T0);
}

describe.each(engines)('remote users across peers ($name)', (engine) => {
  let testDb: TestDb;
  let lms: Peer;
  let lms2: Peer;
  let sis: Peer;
  const db = () => testDb.db;
  const userCount = async () => Number((await db()('users').count({ n: '*' }))[0]!.n);

  beforeAll(async () => {
    testDb = await engine.create();
    lms = await addPeer(db(), 'https://lms.example.edu', 'moodle', MOODLE_CERT);
    lms2 = await addPeer(db(), 'https://lms2.example.edu', 'moodle', MAHARA_CERT);
    sis = await addPeer(db(), 'https://sis.example.edu', 'schooltool', MOODLE_CERT);
    await pairPeers(db(), sis, lms);
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  it('links a SchoolTool identity to the Moodle account with that student id', async () => {
    const moodle = await findOrCreateRemoteUser(db(), lms, profile('ann', 'X-1'), CREATE);
    const schooltool = await findOrCreateRemoteUser(db(), sis, profile('ann.lee', 'X-1'), { ...CREATE, linkByIdnumber: true, loginAllowed: false });
    expect(schooltool).toMatchObject({ created: false, user: { id: moodle.user.id, loginAllowed: true } });
  });

  it('links a Moodle identity to the account its paired SchoolTool created first', async () => {
    const schooltool = await findOrCreateRemoteUser(db(), sis, profile('bob', 'X-2'), { ...CREATE, linkByIdnumber: true, loginAllowed: false });
    const moodle = await findOrCreateRemoteUser(db(), lms, profile('bob.b', 'X-2'), CREATE);
    expect(moodle).toMatchObject({ created: false, user: { id: schooltool.user.id } });
  });

  it('never lets an unpaired peer claim an account by its idnumber', async () => {
    const schooltool = await findOrCreateRemoteUser(db(), sis, profile('eve', 'X-6'), { ...CREATE, linkByIdnumber: true, loginAllowed: false });
    const other = await findOrCreateRemoteUser(db(), lms2, profile('eve.m', 'X-6'), CREATE);
    expect(other.created).toBe(true);
    expect(other.user.id).not.toBe(schooltool.user.id);
  });

  it('a second Moodle user with the same idnumber does not get the linked account', async () => {
    const first = await findOrCreateRemoteUser(db(), lms, profile('fay', 'X-7'), CREATE);
    await findOrCreateRemoteUser(db(), sis, profile('fay.s', 'X-7'), { ...CREATE, linkByIdnumber: true });
    expect(await faultOf(findOrCreateRemoteUser(db(), lms, profile('fay.impostor', 'X-7'), CREATE))).toBe(FaultCode.Application);
    expect((await findRemoteUser(db(), lms, 'fay'))?.id).toBe(first.user.id);
  });

  it('a linking SchoolTool peer does not rewrite the names and email of the Moodle-made account', async () => {
    const moodle = await findOrCreateRemoteUser(db(), lms, { username: 'dee', firstname: 'Dee', lastname: 'Moodle', email: 'dee@lms.test', idnumber: 'X-5' }, CREATE);
    const linked = await findOrCreateRemoteUser(
      db(),
      sis,
      { username: 'dee.s', firstname: 'Mallory', lastname: 'SIS', email: 'evil@sis.test', idnumber: 'X-5' },
      { ...CREATE, updateProfile: true, linkByIdnumber: true },
    );
    expect(linked.user).toMatchObject({ id: moodle.user.id, firstName: 'Dee', lastName: 'Moodle', email: 'dee@lms.test' });
  });

  it('never links a purely local account, even with that student id', async () => {
    const local = await createUser(db(), { username: 'admin', studentId: 'X-3' });
    const { user, created } = await findOrCreateRemoteUser(db(), sis, profile('carol', 'X-3'), { ...CREATE, linkByIdnumber: true });
    expect(created).toBe(true);
    expect(user.id).not.toBe(local.id);
  });

  it('creates and warns when several accounts of the paired peer have the student id', async () => {
    await findOrCreateRemoteUser(db(), lms, profile('dan', 'X-4'), CREATE);
    // A second account of the paired Moodle with that student id (Moodle idnumbers need not be unique).
    const twin = await createUser(db(), { username: 'dan-twin', studentId: 'X-4' });
    await db()('remote_users').insert({ peer_id: lms.id, remote_username: 'dan-twin', user_id: twin.id, idnumber: null });
    const lines: string[] = [];
    const before = await userCount();
    const { created } = await findOrCreateRemoteUser(db(), sis, profile('dan', 'X-4'), { ...CREATE, linkByIdnumber: true, log: createLogger('warn', (l) => lines.push(l)) });
    expect(created).toBe(true);
    expect(await userCount()).toBe(before + 1);
    expect(lines.join('')).toContain('several users');
  });
});
