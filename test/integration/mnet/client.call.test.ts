import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { parseCertificate } from '../../../src/mnet/certificate.js';
import { encodeResponse, type XmlRpcValue } from '../../../src/mnet/codec.js';
import { findPeer, forgetCachedPeers, updatePeerKey, type Peer } from '../../../src/mnet/peers.js';
import { setPeerService } from '../../../src/mnet/methods.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { FakeFault, FakePeer, registerFakePeer } from '../../helpers/fake-peer.js';
import { clientWith, createTestServices } from '../../helpers/services.js';
import { faultOf } from '../../helpers/faults.js';

/**
 * Our MnetClient against a FakePeer (a real HTTP server on loopback answering like Moodle's MNet server),
 * registered in our peers table. Checklist items 25, 33, 34, 35 and the client's transport rules.
 */
const OUR_WWWROOT = 'http://mahara.test';
const ECHO = 'mod/test/rpclib.php/echo';

describe.each(engines)('MnetClient.call against a FakePeer ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  const fakes: FakePeer[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: OUR_WWWROOT } });
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });

  /** A fresh FakePeer that trusts our current certificate, registered as a Moodle peer, with an echo method. */
  async function registeredFake(): Promise<{ fake: FakePeer; peer: Peer }> {
    const fake = await FakePeer.start();
    fakes.push(fake);
    fake.handlers.set(ECHO, (params) => ({ echoed: params, from: 'fake' }));
    const peer = await registerFakePeer(services.db, fake, { wwwroot: OUR_WWWROOT, certificatePem: (await services.keys.current()).certificatePem });
    return { fake, peer };
  }


  const storedPem = async (wwwroot: string) => (await findPeer(services.db, wwwroot, { includeDeleted: true }))!.publicKeyPem;

  it('refuses locally to call a method of a service we do not subscribe to on that peer (§7.1)', async () => {
    const REMOTE = 'mod/test/rpclib.php/remote_only';
    services.registry.registerService({
      name: 'remote_test',
      description: 'a service whose method we call on peers',
      publishedByDefaultTo: [],
      subscribedByDefaultTo: [],
      remoteMethods: [REMOTE],
    });
    const { fake, peer } = await registeredFake();
    fake.handlers.set(REMOTE, () => 'answered');
    expect(await faultOf(services.client.call(peer, REMOTE, []))).toBe(FaultCode.NotSubscribed);
    expect(fake.calls).toEqual([]); // nothing left our side
    await setPeerService(services.db, services.registry, peer, 'remote_test', { subscribe: true });
    expect(await services.client.call((await findPeer(services.db, peer.wwwroot))!, REMOTE, [])).toBe('answered');
  });

  it('returns the value of the peer handler, sent signed and encrypted', async () => {
    const { fake, peer } = await registeredFake();
    const params: XmlRpcValue[] = ['student1', 42, { nested: ['a', true] }];
    const value = await services.client.call(peer, ECHO, params);
    expect(value).toEqual({ echoed: params, from: 'fake' });
    expect(fake.calls).toEqual([{ method: ECHO, params, encrypted: true }]);
  });

  it('reports clock offset and round trip with callWithDetails', async () => {
    const { peer } = await registeredFake();
    const result = await services.client.callWithDetails(peer, ECHO, ['x']);
    expect(result.value).toEqual({ echoed: ['x'], from: 'fake' });
    expect(Math.abs(result.clockOffsetSeconds)).toBeLessThanOrEqual(2);
    expect(result.roundTripMs).toBeGreaterThanOrEqual(0);
  });

  it('surfaces a handler fault (signed+encrypted) as MnetFault with the peer code', async () => {
    const { fake, peer } = await registeredFake();
    fake.handlers.set(ECHO, () => {
      throw new FakeFault(1, 'Authorisation failed: the mnet session does not exist.');
    });
    expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(1);
    // Moodle's "no such function" is a signed+encrypted fault too.
    expect(await faultOf(services.client.call(peer, 'mod/test/rpclib.php/missing', []))).toBe(7012);
  });

  it('surfaces a plain fault (the peer cannot decrypt: 7023) with its code', async () => {
    const { fake, peer } = await registeredFake();
    const other = await FakePeer.start();
    fakes.push(other);
    // We hold a certificate the peer has no private key for, so it cannot open our request.
    const wrong = parseCertificate(other.certificatePem);
    await updatePeerKey(services.db, peer.id, wrong.pem, wrong.validTo);
    const misKeyed = (await findPeer(services.db, peer.wwwroot))!;
    expect(await faultOf(services.client.call(misKeyed, ECHO, []))).toBe(FaultCode.CannotDecrypt);
    expect(fake.calls).toEqual([]);
  });

  it('surfaces a plain fault from a peer that does not know us (Moodle 7020)', async () => {
    const { fake, peer } = await registeredFake();
    fake.trusted.clear();
    expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(7020);
  });

  describe('response timestamp (checklist 25)', () => {
    it('refuses a response 60 s ahead of our clock with TimeDrift', async () => {
      const { fake, peer } = await registeredFake();
      fake.clockSkewSeconds = 60;
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.TimeDrift);
      // The handler did run on the peer; only its answer is refused.
      expect(fake.calls).toHaveLength(1);
    });

    it('accepts a response 3600 s behind our clock', async () => {
      const { fake, peer } = await registeredFake();
      fake.clockSkewSeconds = -3600;
      const result = await services.client.callWithDetails(peer, ECHO, ['late']);
      expect(result.value).toEqual({ echoed: ['late'], from: 'fake' });
      expect(result.clockOffsetSeconds).toBeLessThan(-3590);
      expect(result.clockOffsetSeconds).toBeGreaterThan(-3610);
    });

    it('honours a larger configured threshold', async () => {
      const { fake, peer } = await registeredFake();
      fake.clockSkewSeconds = 60;
      const lenient = clientWith(services, { driftThresholdSeconds: 120 });
      expect(await lenient.call(peer, ECHO, ['ok'])).toEqual({ echoed: ['ok'], from: 'fake' });
      fake.clockSkewSeconds = 200;
      expect(await faultOf(lenient.call(peer, ECHO, []))).toBe(FaultCode.TimeDrift);
    });
  });

  describe('fault 7025 (checklist 34, 35)', () => {
    it('after the peer rotates: stores its new certificate, re-sends once and returns the result', async () => {
      const { fake, peer } = await registeredFake();
      const oldPem = fake.certificatePem;
      await fake.rotate();
      expect(fake.certificatePem).not.toBe(oldPem);

      const value = await services.client.call(peer, ECHO, ['after rotation']);
      expect(value).toEqual({ echoed: ['after rotation'], from: 'fake' });
      // The 7025 answer ran nothing; the re-sent call ran the handler exactly once.
      expect(fake.calls).toEqual([{ method: ECHO, params: ['after rotation'], encrypted: true }]);
      const stored = (await findPeer(services.db, fake.wwwroot))!;
      expect(stored.publicKeyPem).toBe(fake.certificatePem);
      expect(stored.publicKeyExpires.getTime()).toBe(parseCertificate(fake.certificatePem).validTo.getTime());

      // The stored key is now the current one: the next call needs no re-key.
      await services.client.call(peer, ECHO, ['again']);
      expect(fake.calls).toHaveLength(2);
    });

    it('a 7025 whose text is not a certificate stores nothing and fails with InvalidCertificate', async () => {
      const { fake, peer } = await registeredFake();
      let runs = 0;
      // A 7025 signed and encrypted with the peer's real key, but carrying garbage.
      fake.handlers.set(ECHO, () => {
        runs++;
        throw new FakeFault(FaultCode.OldKey, 'We know nothing about the key used to encrypt this message');
      });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.InvalidCertificate);
      expect(runs).toBe(1); // not re-sent
      expect(await storedPem(fake.wwwroot)).toBe(peer.publicKeyPem);
    });

    it('a 7025 carrying another site\'s certificate stores nothing and fails with InvalidCertificate', async () => {
      const { fake, peer } = await registeredFake();
      const other = await FakePeer.start();
      fakes.push(other);
      fake.handlers.set(ECHO, () => {
        throw new FakeFault(FaultCode.OldKey, other.certificatePem);
      });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.InvalidCertificate);
      expect(await storedPem(fake.wwwroot)).toBe(peer.publicKeyPem);
    });

    it('a second 7025 within the same call is not followed', async () => {
      const { fake, peer } = await registeredFake();
      let runs = 0;
      // Always "re-key", with the peer's own valid certificate.
      fake.handlers.set(ECHO, () => {
        runs++;
        throw new FakeFault(FaultCode.OldKey, fake.certificatePem);
      });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.OldKey);
      expect(runs).toBe(2); // the first call and exactly one re-send
    });
  });

  it('decrypts a response encrypted to one of our old keys (checklist 33)', async () => {
    const { fake, peer } = await registeredFake();
    const ourOldPem = (await services.keys.current()).certificatePem;
    // We rotate after the peer accepted our request but before it answers: the peer still encrypts
    // its answer to the certificate it holds for us, which is now in our key history.
    fake.handlers.set(ECHO, async (params) => {
      await services.keys.rotate();
      return { echoed: params, from: 'fake' };
    });
    const value = await services.client.call(peer, ECHO, ['old key']);
    expect(value).toEqual({ echoed: ['old key'], from: 'fake' });
    const keys = await services.keys.decryptionKeys();
    expect(keys[0]!.certificatePem).not.toBe(ourOldPem);
    expect(keys[1]!.certificatePem).toBe(ourOldPem);
    expect(fake.trusted.get(OUR_WWWROOT)).toBe(ourOldPem);
  });

  describe('transport', () => {
    it('HTTP 500 is a Transport fault', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 500, body: '<html>Internal Server Error</html>' });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.Transport);
    });

    it('HTTP 403 with an empty body (Mahara with networking off) is a Transport fault', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 403, body: '' });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.Transport);
    });

    it('a refused connection is a Transport fault', async () => {
      const { fake, peer } = await registeredFake();
      await fake.stop();
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.Transport);
    });

    it('a peer slower than clientTimeoutMs is a Transport fault, raised at the timeout', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse('too late'), delayMs: 3_000 });
      const started = Date.now();
      expect(await faultOf(clientWith(services, { clientTimeoutMs: 300 }).call(peer, ECHO, []))).toBe(FaultCode.Transport);
      expect(Date.now() - started).toBeLessThan(2_500);
    });

    it('a streamed response over maxResponseBytes is BodyTooLarge', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 200, body: Buffer.alloc(200_000, 'a') });
      expect(await faultOf(clientWith(services, { maxResponseBytes: 100_000 }).call(peer, ECHO, []))).toBe(FaultCode.BodyTooLarge);
    });

    it('a response declaring a Content-Length over maxResponseBytes is BodyTooLarge', async () => {
      const { peer } = await registeredFake();
      const big = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': 200_000 }).end(Buffer.alloc(200_000, 'a')));
      });
      await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(big.address() as AddressInfo).port}`;
        await services.db('peers').where({ id: peer.id }).update({ wwwroot: url });
        forgetCachedPeers(services.db);
        const moved = (await findPeer(services.db, url))!;
        expect(await faultOf(clientWith(services, { maxResponseBytes: 100_000 }).call(moved, ECHO, []))).toBe(FaultCode.BodyTooLarge);
      } finally {
        big.closeAllConnections();
        await new Promise<void>((resolve) => big.close(() => resolve()));
      }
    });

    it('a plain non-fault response is BadResponse', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 200, body: encodeResponse('not encrypted') });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.BadResponse);
    });

    it.each([
      ['an envelope without CipherValues', '<?xml version="1.0"?><encryptedMessage><wwwroot>x</wwwroot></encryptedMessage>'],
      ['a plain methodResponse that is not XML-RPC', '<?xml version="1.0"?><methodResponse><params><param><value><bogus/></value></param></params></methodResponse>'],
    ])('%s is BadResponse, not the reader\'s server-side code', async (_case, body) => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 200, body });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.BadResponse);
    });

    it('a body that is not XML is BadResponse', async () => {
      const { fake, peer } = await registeredFake();
      fake.rawAnswer = () => ({ status: 200, body: '<html><body>Moodle error page' });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.BadResponse);
    });

    it('a response signed by another site is BadResponse', async () => {
      const { fake, peer } = await registeredFake();
      const other = await FakePeer.start();
      fakes.push(other);
      const ourPem = (await services.keys.current()).certificatePem;
      // Correctly encrypted to us, but signed by (and naming) another site.
      fake.rawAnswer = () => ({ status: 200, body: other.buildRequest(ourPem, encodeResponse('forged')) });
      expect(await faultOf(services.client.call(peer, ECHO, []))).toBe(FaultCode.BadResponse);
    });
  });

  it('records last_connect_at after a successful exchange', async () => {
    const { peer } = await registeredFake();
    expect(peer.lastConnectAt).toBeNull();
    const before = Date.now();
    await services.client.call(peer, ECHO, []);
    const after = (await findPeer(services.db, peer.wwwroot))!;
    expect(after.lastConnectAt).not.toBeNull();
    expect(after.lastConnectAt!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(after.lastConnectAt!.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
  });

  it('does not record last_connect_at when the peer cannot be reached', async () => {
    const { fake, peer } = await registeredFake();
    fake.rawAnswer = () => ({ status: 500, body: '' });
    await faultOf(services.client.call(peer, ECHO, []));
    expect((await findPeer(services.db, peer.wwwroot))!.lastConnectAt).toBeNull();
  });
});
