import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { decodeMethodResponse, encodeMethodCall, encodeResponse } from '../../../src/mnet/codec.js';
import { MethodPath } from '../../../src/mnet/methods.js';
import { addPeer, deletePeer, normalisePeerWwwroot, refetchPeerKey, verifyPeer, type PeerAdminDeps } from '../../../src/mnet/peer-admin.js';
import { parseCertificate } from '../../../src/mnet/certificate.js';
import { findPeer, listPeers, updatePeerKey } from '../../../src/mnet/peers.js';
import { parseXml } from '../../../src/mnet/xml.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { FakePeer } from '../../helpers/fake-peer.js';
import { MNET_FIXTURES } from '../../helpers/fixtures.js';
import { createTestServices } from '../../helpers/services.js';
import { faultCodeOf, faultOf } from '../../helpers/faults.js';

/** Adding, verifying and deleting peers against FakePeers (§9.2, §6 notes on verify, checklist 36, 37). */
const OUR_WWWROOT = 'http://mahara.test';
const MOODLE_KEY_FILE = path.join(MNET_FIXTURES, 'keys/moodle.key.pem');

/**
 * A Moodle-style certificate (checklist 37) made by the openssl CLI as PHP makes it: serial 0 and the
 * `subjectAltName` attribute (OID 2.5.29.17) inside the subject DN.
 */
function moodleStyleCertificate(commonName: string, subjectAltName: string): string {
  const esc = (s: string) => s.replace(/\//g, '\\/');
  return execFileSync(
    'openssl',
    [
      'req', '-x509', '-new', '-key', MOODLE_KEY_FILE, '-set_serial', '0', '-days', '28', '-sha256',
      '-subj', `/C=NZ/ST=Wellington/L=Wellington/O=Fake Moodle/OU=Moodle/CN=${esc(commonName)}/subjectAltName=${esc(subjectAltName)}/emailAddress=noreply@moodle.test`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

describe('normalisePeerWwwroot', () => {
  it('adds http:// when the scheme is missing', () => {
    expect(normalisePeerWwwroot('moodle.example.edu')).toBe('http://moodle.example.edu');
    expect(normalisePeerWwwroot('  moodle.example.edu:8443/lms ')).toBe('http://moodle.example.edu:8443/lms');
  });

  it('keeps https and strips trailing slashes', () => {
    expect(normalisePeerWwwroot('https://moodle.example.edu/')).toBe('https://moodle.example.edu');
    expect(normalisePeerWwwroot('https://moodle.example.edu/lms///')).toBe('https://moodle.example.edu/lms');
  });

  // Peers compare wwwroots as strings (signed envelope, certificate CN): keep what the admin typed.
  it('keeps the host\'s case and an explicit default port as typed', () => {
    expect(normalisePeerWwwroot('https://LMS.Example.edu/')).toBe('https://LMS.Example.edu');
    expect(normalisePeerWwwroot('https://lms.example.edu:443')).toBe('https://lms.example.edu:443');
    expect(normalisePeerWwwroot('lms.example.edu/moodle/')).toBe('http://lms.example.edu/moodle');
  });

  it.each(['ftp://moodle.example.edu', 'https://moodle.example.edu/?x=1', 'https://moodle.example.edu/#a', 'https://u:p@moodle.example.edu', 'http://'])(
    'refuses %s with InvalidInput',
    (input) => {
      expect(faultCodeOf(() => normalisePeerWwwroot(input))).toBe(FaultCode.InvalidInput);
    },
  );
});

describe.each(engines)('peer administration ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  let deps: PeerAdminDeps;
  const fakes: FakePeer[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: OUR_WWWROOT } });
    deps = { db: services.db, client: services.client, log: services.log, now: services.now };
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });

  async function fakePeer(options: { trustUs?: boolean } = {}): Promise<FakePeer> {
    const fake = await FakePeer.start();
    fakes.push(fake);
    if (options.trustUs !== false) fake.trusted.set(OUR_WWWROOT, (await services.keys.current()).certificatePem);
    fake.handlers.set(MethodPath.listServices, () => [
      { name: 'sso_idp', apiversion: 1, publish: '1', subscribe: '0' },
      { name: 'pf', apiversion: 1, publish: 1, subscribe: 1 },
    ]);
    return fake;
  }

  describe('addPeer', () => {
    it('fetches the certificate with a plain keyswap and stores the peer', async () => {
      const fake = await fakePeer();
      const peer = await addPeer(deps, { wwwroot: fake.wwwroot + '/', application: 'moodle', name: ' Campus LMS ' });
      expect(peer.wwwroot).toBe(fake.wwwroot);
      expect(peer.name).toBe('Campus LMS');
      expect(peer.application).toBe('moodle');
      expect(peer.publicKeyPem).toBe(fake.certificatePem);
      expect(peer.deleted).toBe(false);
      expect(peer.xmlrpcServerPath).toBe('/mnet/xmlrpc/server.php');
      // One plain keyswap carrying our wwwroot and certificate.
      expect(fake.calls).toEqual([
        { method: MethodPath.keyswap, params: [OUR_WWWROOT, (await services.keys.current()).certificatePem, 'mahara'], encrypted: false },
      ]);
      expect((await findPeer(services.db, fake.wwwroot))!.id).toBe(peer.id);
    });

    it('names the peer after its wwwroot when no name is given', async () => {
      const fake = await fakePeer();
      expect((await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' })).name).toBe(fake.wwwroot);
    });

    it('refuses a certificate whose CN is another wwwroot (checklist 36) and stores nothing', async () => {
      const fake = await fakePeer();
      const other = await fakePeer();
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse(other.certificatePem) });
      expect(await faultOf(addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' }))).toBe(FaultCode.InvalidCertificate);
      expect(await findPeer(services.db, fake.wwwroot, { includeDeleted: true })).toBeUndefined();
    });

    it('accepts a Moodle-style certificate with a matching subjectAltName attribute and serial 0 (checklist 37)', async () => {
      const fake = await fakePeer();
      const pem = moodleStyleCertificate(fake.wwwroot, fake.wwwroot);
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse(pem) });
      const peer = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      expect(peer.publicKeyPem).toBe(pem);
    });

    it('refuses a certificate whose subjectAltName attribute differs from the wwwroot (checklist 36)', async () => {
      const fake = await fakePeer();
      const pem = moodleStyleCertificate(fake.wwwroot, fake.wwwroot + '/elsewhere');
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse(pem) });
      expect(await faultOf(addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' }))).toBe(FaultCode.InvalidCertificate);
      expect(await findPeer(services.db, fake.wwwroot, { includeDeleted: true })).toBeUndefined();
    });

    it('refuses an answer that is not a certificate', async () => {
      const fake = await fakePeer();
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse('hello') });
      expect(await faultOf(addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' }))).toBe(FaultCode.InvalidCertificate);
    });

    it('reports an unreachable site as Transport and stores nothing', async () => {
      const fake = await fakePeer();
      await fake.stop();
      expect(await faultOf(addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' }))).toBe(FaultCode.Transport);
      expect(await findPeer(services.db, fake.wwwroot, { includeDeleted: true })).toBeUndefined();
    });

    it('refuses an already registered peer without contacting it', async () => {
      const fake = await fakePeer();
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      const callsBefore = fake.calls.length;
      expect(await faultOf(addPeer(deps, { wwwroot: fake.wwwroot + '/', application: 'moodle' }))).toBe(FaultCode.InvalidInput);
      expect(fake.calls).toHaveLength(callsBefore);
    });

    it('re-adding a soft-deleted peer revives it with the fresh key', async () => {
      const fake = await fakePeer();
      const first = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle', name: 'First' });
      await deletePeer(deps, fake.wwwroot);
      await fake.rotate();
      const again = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle', name: 'Second' });
      expect(again.id).toBe(first.id);
      expect(again.deleted).toBe(false);
      expect(again.name).toBe('Second');
      expect(again.publicKeyPem).toBe(fake.certificatePem);
      expect(again.publicKeyPem).not.toBe(first.publicKeyPem);
      expect((await listPeers(services.db)).filter((p) => p.wwwroot === fake.wwwroot)).toHaveLength(1);
    });
  });

  describe('verifyPeer', () => {
    it('reports reachable, key match, authenticated call, services and clock offset, and records last contact', async () => {
      const fake = await fakePeer();
      fake.clockSkewSeconds = -120; // behind us: reported, not refused
      const added = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      expect(added.lastConnectAt).toBeNull();

      const check = await verifyPeer(deps, fake.wwwroot);
      expect(check.reachable).toBe(true);
      expect(check.keyMatches).toBe(true);
      expect(check.authenticated).toBe(true);
      expect(check.authError).toBeUndefined();
      expect(check.keyswapError).toBeUndefined();
      expect(check.clockOffsetSeconds).toBeGreaterThan(-130);
      expect(check.clockOffsetSeconds).toBeLessThan(-110);
      expect(check.services).toEqual([
        { name: 'sso_idp', publish: true, subscribe: false },
        { name: 'pf', publish: true, subscribe: true },
      ]);
      expect(fake.calls.map((c) => [c.method, c.encrypted])).toEqual([
        [MethodPath.keyswap, false], // addPeer
        [MethodPath.listServices, true],
        [MethodPath.keyswap, false],
      ]);
      expect((await findPeer(services.db, fake.wwwroot))!.lastConnectAt).not.toBeNull();
    });

    it('after the peer rotates, ends authenticated with keyMatches (the 7025 refresh stored the new key)', async () => {
      const fake = await fakePeer();
      const added = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      await fake.rotate();
      const check = await verifyPeer(deps, fake.wwwroot);
      expect(check.authenticated).toBe(true);
      expect(check.reachable).toBe(true);
      expect(check.keyMatches).toBe(true);
      expect(check.peer.publicKeyPem).toBe(fake.certificatePem);
      expect(check.peer.publicKeyPem).not.toBe(added.publicKeyPem);
      expect((await findPeer(services.db, fake.wwwroot))!.publicKeyPem).toBe(fake.certificatePem);
    });

    it('reports a peer that does not trust us: reachable but not authenticated', async () => {
      const fake = await fakePeer({ trustUs: false });
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      const check = await verifyPeer(deps, fake.wwwroot);
      expect(check.reachable).toBe(true);
      expect(check.keyMatches).toBe(true);
      expect(check.authenticated).toBe(false);
      expect(check.authError).toBeTruthy();
      expect(check.clockOffsetSeconds).toBeUndefined();
    });

    it('reports a stored key that differs from what the peer answers', async () => {
      const fake = await fakePeer();
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      const other = await fakePeer();
      // Someone stored the wrong certificate: the peer cannot decrypt us, and keyswap shows the mismatch.
      const wrong = parseCertificate(other.certificatePem);
      await updatePeerKey(services.db, (await findPeer(services.db, fake.wwwroot))!.id, wrong.pem, wrong.validTo);
      const check = await verifyPeer(deps, fake.wwwroot);
      expect(check.reachable).toBe(true);
      expect(check.keyMatches).toBe(false);
      expect(check.authenticated).toBe(false);
    });

    it('reports an unreachable peer', async () => {
      const fake = await fakePeer();
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      await fake.stop();
      const check = await verifyPeer(deps, fake.wwwroot);
      expect(check.reachable).toBe(false);
      expect(check.authenticated).toBe(false);
      expect(check.keyswapError).toBeTruthy();
    });

    it('refuses an unknown peer with PeerNotFound', async () => {
      expect(await faultOf(verifyPeer(deps, 'http://nowhere.test'))).toBe(FaultCode.PeerNotFound);
    });
  });

  describe('refetchPeerKey (§5.3 c: admin re-fetch)', () => {
    it('stores the certificate the peer answers now and reports both fingerprints; then verify passes', async () => {
      const fake = await fakePeer();
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      const before = parseCertificate(fake.certificatePem).sha1Fingerprint;
      await fake.rotate();
      const result = await refetchPeerKey(deps, fake.wwwroot);
      expect(result.oldFingerprint).toBe(before);
      expect(result.newFingerprint).toBe(parseCertificate(fake.certificatePem).sha1Fingerprint);
      expect(result.newFingerprint).not.toBe(before);
      expect((await findPeer(services.db, fake.wwwroot))!.publicKeyPem).toBe(fake.certificatePem);
      expect((await verifyPeer(deps, fake.wwwroot)).keyMatches).toBe(true);
    });

    it('refuses a certificate that belongs to another site and keeps the stored one', async () => {
      const fake = await fakePeer();
      const peer = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      const other = await fakePeer();
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse(other.certificatePem) });
      expect(await faultOf(refetchPeerKey(deps, fake.wwwroot))).toBe(FaultCode.InvalidCertificate);
      expect((await findPeer(services.db, fake.wwwroot))!.publicKeyPem).toBe(peer.publicKeyPem);
    });
  });

  describe('deletePeer', () => {
    /** What our server answers when `fake` calls system/listServices on us, signed and encrypted. */
    async function callUs(fake: FakePeer): Promise<{ plainFault?: number; encrypted: boolean }> {
      const ourPem = (await services.keys.current()).certificatePem;
      const body = fake.buildRequest(ourPem, encodeMethodCall(MethodPath.listServices, []));
      const reply = await services.mnetServer.handle({ body, host: undefined });
      const root = parseXml(reply.body, 6001);
      if (root.name !== 'methodResponse') return { encrypted: root.name === 'encryptedMessage' };
      const decoded = decodeMethodResponse(root);
      return { encrypted: false, plainFault: 'fault' in decoded ? decoded.fault.code : undefined };
    }

    it('soft-deletes: the peer disappears from lists and its calls to us get 6003', async () => {
      const fake = await fakePeer();
      const peer = await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      // While registered, its signed+encrypted call is served.
      expect(await callUs(fake)).toEqual({ encrypted: true });

      const deleted = await deletePeer(deps, fake.wwwroot + '/');
      expect(deleted.id).toBe(peer.id);
      expect(await findPeer(services.db, fake.wwwroot)).toBeUndefined();
      const row = await findPeer(services.db, fake.wwwroot, { includeDeleted: true });
      expect(row?.deleted).toBe(true);
      expect(row?.publicKeyPem).toBe(peer.publicKeyPem); // kept, only hidden
      expect((await listPeers(services.db)).map((p) => p.wwwroot)).not.toContain(fake.wwwroot);
      expect((await listPeers(services.db, { includeDeleted: true })).map((p) => p.wwwroot)).toContain(fake.wwwroot);

      expect(await callUs(fake)).toEqual({ encrypted: false, plainFault: FaultCode.UnknownPeer });
    });

    it('refuses an unknown or already deleted peer with PeerNotFound', async () => {
      const fake = await fakePeer();
      expect(await faultOf(deletePeer(deps, fake.wwwroot))).toBe(FaultCode.PeerNotFound);
      await addPeer(deps, { wwwroot: fake.wwwroot, application: 'moodle' });
      await deletePeer(deps, fake.wwwroot);
      expect(await faultOf(deletePeer(deps, fake.wwwroot))).toBe(FaultCode.PeerNotFound);
    });
  });
});
