/**
 * MnetServer.handle against the requests Moodle's own PHP made (test/fixtures/mnet, README.md there):
 * checklist 6, 7, 12, 13, 20 for the portfolio calls, 28 and 29 for system/keyswap.
 *
 * handle() takes only the body and the Host header, so the request Content-Type (Moodle 4.x `text/xml`,
 * Mahara's `text/xml charset=UTF-8` without the semicolon, the keyswap's `text/xml; charset=utf-8`,
 * checklist 1) cannot influence it; that part of checklist 1 belongs to the HTTP layer's tests.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair, parseCertificate } from '../../../src/mnet/certificate.js';
import { decodeMethodResponse, encodeMethodCall, type XmlRpcValue } from '../../../src/mnet/codec.js';
import {
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
} from '../../../src/mnet/envelope.js';
import { MnetServer, type MnetHttpResponse } from '../../../src/mnet/server.js';
import { MethodPath, MethodRegistry } from '../../../src/mnet/methods.js';
import { registerSystemMethods } from '../../../src/mnet/system.js';
import { findPeer, forgetCachedPeers, insertPeerIfAbsent, listPeers, savePeer, softDeletePeer } from '../../../src/mnet/peers.js';
import { parseXml } from '../../../src/mnet/xml.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { fixture, MAHARA_CERT, MAHARA_KEY, MAHARA_WWWROOT, MOODLE_CERT, MOODLE_OLD_CERT, MOODLE_WWWROOT, moodleKey, vectors } from '../../helpers/fixtures.js';
import { createTestServices, installSiteKey } from '../../helpers/services.js';
import { signedMessageWithKey } from '../../helpers/sign.js';

const maharaPublicKey = parseCertificate(MAHARA_CERT).publicKey;

/** The Moodle→Mahara calls whose handler lives on our side. */
const requestVectors = vectors.filter((v) => /^0[3467]-/.test(v.id));
const keyswapVector = vectors.find((v) => v.id.startsWith('01-'))!;
const PORTFOLIO_METHODS = [...new Set(requestVectors.map((v) => v.method))];

/** Where `needle` starts in the first 100 bytes (Moodle's strpos check, §1.3); -1 when absent. */
function offsetInFirst100(bytes: Buffer, needle: string): number {
  return bytes.subarray(0, 100).toString('latin1').indexOf(needle);
}

/** Checks the envelope layout Moodle's client insists on, opens the answer like Moodle would and decodes it. */
async function openAsMoodle(res: MnetHttpResponse) {
  expect(res.status).toBe(200);
  expect(res.body.subarray(0, 5).toString('latin1')).toBe('<?xml');
  expect(offsetInFirst100(res.body, '<encryptedMessage>')).toBeGreaterThan(0);
  const envelope = readEncryptedMessage(parseXml(res.body, 0));
  const opened = await decryptEnvelope(envelope, [moodleKey]);
  if (!opened) throw new Error('the response is not encrypted to the Moodle fixture key');

  expect(opened.plaintext.subarray(0, 5).toString('latin1')).toBe('<?xml');
  expect(offsetInFirst100(opened.plaintext, '<signedMessage>')).toBeGreaterThan(0);
  const message = readSignedMessage(parseXml(opened.plaintext, 0));
  return { envelope, message, verified: verifySignedMessage(message, maharaPublicKey), response: decodeMethodResponse(parseXml(message.payload, 0)) };
}

/** A plain (unwrapped) XML-RPC response, decoded. */
function openPlain(res: MnetHttpResponse) {
  expect(res.status).toBe(200);
  const root = parseXml(res.body, 0);
  expect(root.name).toBe('methodResponse');
  return decodeMethodResponse(root);
}

describe.each(engines)('MnetServer.handle with Moodle-made requests ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  let server: MnetServer;
  let registry: MethodRegistry;
  let nowSeconds = requestVectors[0]!.request.timestamp!;
  const calls: Array<{ method: string; params: readonly XmlRpcValue[]; caller: string }> = [];
  /** What each portfolio handler answers: the response Moodle's harness got for the same vector. */
  const answers = new Map<string, XmlRpcValue>();

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({
      db: testDb.db,
      env: { WWWROOT: MAHARA_WWWROOT },
      now: () => new Date(nowSeconds * 1000),
    });
    // Our key = the fixture key Moodle encrypted the vectors to (valid until 2036).
    await installSiteKey(testDb.db, MAHARA_CERT, MAHARA_KEY, parseCertificate(MAHARA_CERT).validTo, new Date('2026-11-22T12:00:00Z'));
    await services.keys.reload();
    // The vectors' tokens and users come from Moodle's harness, so the portfolio methods are stand-ins
    // here that record the call and give the answer Mahara gave; the real ones are tested end to end
    // (test/e2e/portfolio*.test.ts).
    registry = new MethodRegistry();
    registerSystemMethods(registry);
    registry.registerService({ name: 'pf', description: 'portfolio', publishedByDefaultTo: ['moodle'], subscribedByDefaultTo: [] });
    for (const path of PORTFOLIO_METHODS) {
      registry.register({
        path,
        service: 'pf',
        params: [],
        returns: { type: 'struct', description: '' },
        help: '',
        handler: async (params, ctx) => {
          calls.push({ method: path, params, caller: ctx.peer.wwwroot });
          return answers.get(path)!;
        },
      });
    }
    server = new MnetServer({
      db: testDb.db,
      keys: services.keys,
      registry,
      refreshPeerKey: async () => {},
      wwwroot: MAHARA_WWWROOT,
      mnet: services.config.mnet,
      log: services.log,
      now: services.now,
    });
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  beforeEach(() => {
    calls.length = 0;
  });

  /** Leaves exactly one peer, Moodle, with `pem` as its stored certificate (or no peer at all). */
  async function onlyPeer(pem: string | null): Promise<void> {
    await testDb.db('peers').delete();
    forgetCachedPeers(testDb.db);
    if (pem === null) return;
    const cert = parseCertificate(pem);
    await savePeer(testDb.db, { wwwroot: MOODLE_WWWROOT, name: 'Moodle', application: 'moodle', publicKeyPem: cert.pem, publicKeyExpires: cert.validTo }, new Date());
  }

  describe('portfolio calls (checklist 13, 20, 6, 7, 12)', () => {
    beforeAll(() => onlyPeer(MOODLE_CERT));

    it.each(requestVectors.map((v) => [v.id, v] as const))('%s: dispatched with Moodle\'s params, answered encrypted to Moodle', async (_id, v) => {
      const result = (v.response.decoded as { value: XmlRpcValue }).value;
      answers.set(v.method, result);
      nowSeconds = v.request.timestamp!;

      const res = await server.handle({ body: fixture(v.request.files.encrypted!), host: 'mahara.test' });

      expect(calls).toEqual([{ method: v.method, params: (v.request.decoded as { params: unknown[] }).params, caller: MOODLE_WWWROOT }]);
      const { envelope, message, verified, response } = await openAsMoodle(res);
      expect(verified).toBe(true);
      expect(envelope.wwwroot).toBe(MAHARA_WWWROOT);
      expect(message.wwwroot).toBe(MAHARA_WWWROOT);
      expect(message.timestamp).toBe(v.request.timestamp);
      expect(response).toEqual({ value: result });
      expect(message.payload.toString('utf8')).not.toContain('<nil');
    });
  });

  describe('system/keyswap (checklist 28, 29)', () => {
    const keyswapRequest = () => fixture(keyswapVector.request.files.xmlrpc!);
    /** services.mnetServer with promiscuous mode on (§5.4). */
    const promiscuous = () =>
      new MnetServer({
        db: testDb.db,
        keys: services.keys,
        registry,
        refreshPeerKey: async () => {},
        wwwroot: MAHARA_WWWROOT,
        mnet: { ...services.config.mnet, promiscuous: true },
        log: services.log,
        now: services.now,
      });

    it('the Moodle-made plain request gets a plain response whose single string is our certificate PEM', async () => {
      await onlyPeer(null);
      const res = await server.handle({ body: keyswapRequest(), host: 'mahara.test' });

      expect(res.body.toString('latin1')).not.toContain('encryptedMessage');
      expect(res.body.toString('latin1')).not.toContain('signedMessage');
      const response = openPlain(res);
      expect(response).toEqual({ value: (await services.keys.current()).certificatePem });
      // The fixture is in OpenSSL's canonical form, and is also what Moodle's harness got back.
      expect(response).toEqual({ value: MAHARA_CERT });
      expect(response).toEqual(keyswapVector.response.decoded);
    });

    it('stores nothing when promiscuous mode is off', async () => {
      await onlyPeer(null);
      await server.handle({ body: keyswapRequest(), host: 'mahara.test' });
      expect(await listPeers(testDb.db, { includeDeleted: true })).toEqual([]);
    });

    it('with promiscuous mode on, registers an unknown caller as `moodle` although its third param says `mahara`', async () => {
      await onlyPeer(null);
      expect((keyswapVector.request.decoded as { params: unknown[] }).params[2]).toBe('mahara');

      const res = await promiscuous().handle({ body: keyswapRequest(), host: 'mahara.test' });

      expect(openPlain(res)).toEqual({ value: MAHARA_CERT });
      const peers = await listPeers(testDb.db, { includeDeleted: true });
      expect(peers.map((p) => [p.wwwroot, p.application, p.publicKeyPem])).toEqual([[MOODLE_WWWROOT, 'moodle', MOODLE_CERT]]);
    });

    it('with promiscuous mode on, never replaces the stored key of a known peer', async () => {
      await onlyPeer(MOODLE_OLD_CERT);
      const res = await promiscuous().handle({ body: keyswapRequest(), host: 'mahara.test' });

      expect(openPlain(res)).toEqual({ value: MAHARA_CERT });
      expect((await findPeer(testDb.db, MOODLE_WWWROOT))!.publicKeyPem).toBe(MOODLE_OLD_CERT);
    });

    it('with promiscuous mode on, neither revives nor re-keys a deleted peer', async () => {
      await onlyPeer(MOODLE_OLD_CERT);
      await softDeletePeer(testDb.db, (await findPeer(testDb.db, MOODLE_WWWROOT))!.id);
      await promiscuous().handle({ body: keyswapRequest(), host: 'mahara.test' });

      const peer = (await findPeer(testDb.db, MOODLE_WWWROOT, { includeDeleted: true }))!;
      expect([peer.deleted, peer.publicKeyPem]).toEqual([true, MOODLE_OLD_CERT]);
    });

    it('with promiscuous mode on, racing registrations of one new site keep the first key (insert only)', async () => {
      await onlyPeer(null);
      const peer = { wwwroot: MOODLE_WWWROOT, name: 'x', application: 'moodle' as const, publicKeyExpires: new Date('2036-01-01') };
      expect(await insertPeerIfAbsent(testDb.db, { ...peer, publicKeyPem: MOODLE_CERT }, new Date())).toBe(true);
      expect(await insertPeerIfAbsent(testDb.db, { ...peer, publicKeyPem: MOODLE_OLD_CERT }, new Date())).toBe(false);
      expect((await findPeer(testDb.db, MOODLE_WWWROOT))!.publicKeyPem).toBe(MOODLE_CERT);
    });

    it.each([
      ['not a web address', 'moodle.test'],
      ['another scheme', 'ftp://moodle.test'],
      ['credentials', 'http://user@moodle.test'],
    ])('with promiscuous mode on, registers nobody for a claimed wwwroot with %s', async (_case, claimed) => {
      await onlyPeer(null);
      // A certificate that does belong to the claimed string, so only the address check can refuse it.
      const { certificatePem } = await generateKeyPair({
        wwwroot: claimed,
        subject: { country: 'NZ', province: 'W', locality: 'W', organisation: 'X', email: 'x@example.test' },
        days: 1,
        now: new Date(),
      });
      const body = encodeMethodCall(MethodPath.keyswap, [claimed, certificatePem]);
      const res = await promiscuous().handle({ body, host: 'mahara.test' });
      expect(openPlain(res)).toEqual({ value: MAHARA_CERT });
      expect(await listPeers(testDb.db, { includeDeleted: true })).toEqual([]);
    });

    it('is also accepted signed and encrypted, and answered the same way', async () => {
      await onlyPeer(MOODLE_CERT);
      nowSeconds = Math.floor(Date.now() / 1000);
      const signed = signedMessageWithKey({
        payload: encodeMethodCall(MethodPath.keyswap, [MOODLE_WWWROOT, MOODLE_CERT, 'mahara']),
        wwwroot: MOODLE_WWWROOT,
        timestamp: nowSeconds,
        privateKey: moodleKey.privateKey,
        publicKeyUrl: `${MOODLE_WWWROOT}/mnet/publickey.php`,
      });
      const body = buildEncryptedMessage({ plaintext: signed, wwwroot: MOODLE_WWWROOT, recipientKey: maharaPublicKey });

      const { verified, response } = await openAsMoodle(await server.handle({ body, host: 'mahara.test' }));
      expect(verified).toBe(true);
      expect(response).toEqual({ value: MAHARA_CERT });
    });
  });
});
