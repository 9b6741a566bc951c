/**
 * Every refusal of MnetServer.handle (§7.5 dispatcher order, §7.6 codes, §2.3 plain vs wrapped faults):
 * checklist 2–5, 14–24, 30–32, 41, 43, 44. Each refusal must leave the method unexecuted, so every case
 * also checks the log of handler calls.
 *
 * The caller is usually the Moodle fixture key pair, speaking for whichever wwwroot a case needs. Cases
 * where we call the peer back (the key refresh of §3.3 step 3) use FakePeers: real HTTP servers on loopback.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MnetConfig } from '../../../src/config.js';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { parseCertificate } from '../../../src/mnet/certificate.js';
import { decodeMethodCall, decodeMethodResponse, encodeMethodCall, type MethodResponse, type XmlRpcValue } from '../../../src/mnet/codec.js';
import {
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
} from '../../../src/mnet/envelope.js';
import { MethodPath, setPeerService } from '../../../src/mnet/methods.js';
import { findPeer, listPeers, savePeer, softDeletePeer, type Peer } from '../../../src/mnet/peers.js';
import { MnetServer, type MnetHttpResponse } from '../../../src/mnet/server.js';
import { parseXml } from '../../../src/mnet/xml.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { FakePeer } from '../../helpers/fake-peer.js';
import { MAHARA_WWWROOT, MOODLE_CERT, MOODLE_OLD_CERT, MOODLE_WWWROOT, moodleKey } from '../../helpers/fixtures.js';
import { createTestServices } from '../../helpers/services.js';
import { signedMessageWithKey } from '../../helpers/sign.js';

// ---- the caller: Moodle's fixture key pair, claiming whatever wwwroot a case needs ----------------------

const NEVER_OURS_CERT = MOODLE_OLD_CERT;
const DELETED_WWWROOT = 'http://deleted.test';
const HOST = 'mahara.test';

// ---- methods registered for the tests; each records that it ran ------------------------------------------

const ECHO = 'test/rpclib.php/echo';
const CRASH = 'test/rpclib.php/crash';
const REFUSE = 'test/rpclib.php/refuse';
const REFUSE_MARKUP = 'test/rpclib.php/refuse_markup';
const DOT_DOT_TARGET = 'a/c'; // where `a/b/../c` would land if `..` were resolved
const HIDDEN = 'hidden/rpclib.php/secret'; // service published to nobody by default
const OPTED_OUT = 'optout/rpclib.php/call'; // service published to Moodle, switched off for our Moodle peer
const SECRET = 'connection string postgres://admin:hunter2@db';
const MARKUP = 'Quota <exceeded> & "nothing" > saved';

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

interface SendOptions {
  /** The wwwroot in the signed envelope (default Moodle's). */
  as?: string;
  /** The wwwroot in the encrypted envelope (default: the same as `as`). */
  outer?: string;
  /** The certificate to encrypt to (default our current one). */
  to?: string;
  timestamp?: number;
}

/** An opened response: how it was wrapped, whether our signature verifies, and the decoded XML-RPC. */
interface Answer {
  wrapping: 'plain' | 'signed' | 'encrypted';
  verified?: boolean;
  payload: string;
  response: MethodResponse;
}

describe.each(engines)('MnetServer.handle refusals ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  let moodlePeer: Peer;
  /** Answers every refresh call with HTTP 503 and keeps the bodies it received. */
  let refusingPeer: FakePeer;
  const refreshBodies: Buffer[] = [];
  /** Was listening once; now nothing answers at its wwwroot. */
  let gonePeer: FakePeer;
  const ran: string[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: MAHARA_WWWROOT } });
    const { registry } = services;
    registry.registerService({ name: 'test', description: '', publishedByDefaultTo: ['moodle'], subscribedByDefaultTo: [] });
    registry.registerService({ name: 'hidden', description: '', publishedByDefaultTo: [], subscribedByDefaultTo: [] });
    registry.registerService({ name: 'optout', description: '', publishedByDefaultTo: ['moodle'], subscribedByDefaultTo: [] });
    const method = (path: string, service: string, run: (params: readonly XmlRpcValue[]) => XmlRpcValue) =>
      registry.register({
        path,
        service,
        params: [],
        returns: { type: 'string', description: '' },
        help: '',
        handler: async (params) => {
          ran.push(path);
          return run(params);
        },
      });
    method(ECHO, 'test', (params) => ['echo', ...params]);
    method(CRASH, 'test', () => {
      throw new Error(SECRET);
    });
    method(REFUSE, 'test', () => {
      throw new MnetFault(FaultCode.Application, 'Importing content is disabled');
    });
    method(REFUSE_MARKUP, 'test', () => {
      throw new MnetFault(FaultCode.Application, MARKUP);
    });
    method(DOT_DOT_TARGET, 'test', () => true);
    method(HIDDEN, 'hidden', () => true);
    method(OPTED_OUT, 'optout', () => true);

    moodlePeer = await registerPeer(MOODLE_WWWROOT, MOODLE_CERT);
    await setPeerService(testDb.db, registry, moodlePeer, 'optout', { publish: false });
    await softDeletePeer(testDb.db, (await registerPeer(DELETED_WWWROOT, MOODLE_CERT)).id);

    refusingPeer = await FakePeer.start();
    refusingPeer.rawAnswer = (body) => {
      refreshBodies.push(body);
      return { status: 503, body: '' };
    };
    // Both stand-ins are stored with Moodle's fixture certificate, so the fixture key signs for them.
    await registerPeer(refusingPeer.wwwroot, MOODLE_CERT);
    gonePeer = await FakePeer.start();
    await gonePeer.stop();
    await registerPeer(gonePeer.wwwroot, MOODLE_CERT);
  });

  afterAll(async () => {
    await refusingPeer?.stop();
    await services?.close();
    await testDb?.drop();
  });

  beforeEach(() => {
    ran.length = 0;
    refreshBodies.length = 0;
  });

  // ---- helpers --------------------------------------------------------------------------------------------

  async function registerPeer(wwwroot: string, pem: string): Promise<Peer> {
    const cert = parseCertificate(pem);
    return savePeer(testDb.db, { wwwroot, name: wwwroot, application: 'moodle', publicKeyPem: cert.pem, publicKeyExpires: cert.validTo }, new Date());
  }

  const ourPem = async () => (await services.keys.current()).certificatePem;

  /** A server like services.mnetServer with some settings (or its clock / key refresh) replaced. */
  function serverWith(mnet: Partial<MnetConfig>, deps: { now?: () => Date; refreshPeerKey?: (peer: Peer) => Promise<void> } = {}): MnetServer {
    return new MnetServer({
      db: testDb.db,
      keys: services.keys,
      registry: services.registry,
      refreshPeerKey: deps.refreshPeerKey ?? (async (peer) => void (await services.client.call(peer, MethodPath.listServices, []))),
      wwwroot: MAHARA_WWWROOT,
      mnet: { ...services.config.mnet, ...mnet },
      log: silentLogger,
      now: deps.now ?? (() => new Date()),
    });
  }

  /** A signedMessage document, signed with Moodle's fixture key. */
  function signed(payload: Buffer, o: SendOptions = {}): Buffer {
    return signedMessageWithKey({
      payload,
      wwwroot: o.as ?? MOODLE_WWWROOT,
      timestamp: o.timestamp ?? seconds(new Date()),
      privateKey: moodleKey.privateKey,
      publicKeyUrl: `${o.as ?? MOODLE_WWWROOT}/mnet/publickey.php`,
    });
  }

  async function encrypted(plaintext: Buffer, o: SendOptions = {}): Promise<Buffer> {
    return buildEncryptedMessage({
      plaintext,
      wwwroot: o.outer ?? o.as ?? MOODLE_WWWROOT,
      recipientKey: parseCertificate(o.to ?? (await ourPem())).publicKey,
    });
  }

  /** What a Moodle client sends: encrypted( signed( methodCall ) ). */
  async function request(method: string, params: XmlRpcValue[] = [], o: SendOptions = {}): Promise<Buffer> {
    return encrypted(signed(encodeMethodCall(method, params), o), o);
  }

  async function handle(body: Buffer | string, o: { server?: MnetServer; host?: string | undefined } = {}): Promise<MnetHttpResponse> {
    return (o.server ?? services.mnetServer).handle({ body: Buffer.from(body), host: 'host' in o ? o.host : HOST });
  }

  /** Opens a response as the Moodle fixture caller would; the signature is checked against `signerPem`. */
  async function answerOf(res: MnetHttpResponse, signerPem?: string): Promise<Answer> {
    expect(res.status).toBe(200);
    let doc = parseXml(res.body, 0);
    if (doc.name === 'methodResponse') {
      return { wrapping: 'plain', payload: res.body.toString('utf8'), response: decodeMethodResponse(doc) };
    }
    let wrapping: Answer['wrapping'] = 'signed';
    if (doc.name === 'encryptedMessage') {
      const opened = await decryptEnvelope(readEncryptedMessage(doc), [moodleKey]);
      if (!opened) throw new Error('response is not encrypted to the caller');
      doc = parseXml(opened.plaintext, 0);
      wrapping = 'encrypted';
    }
    const message = readSignedMessage(doc);
    const verified = verifySignedMessage(message, parseCertificate(signerPem ?? (await ourPem())).publicKey);
    return { wrapping, verified, payload: message.payload.toString('utf8'), response: decodeMethodResponse(parseXml(message.payload, 0)) };
  }

  /** A fault sent before the caller was authenticated: plain, unsigned, unencrypted (§2.3). */
  async function expectPlainFault(res: MnetHttpResponse, code: number): Promise<Answer> {
    const answer = await answerOf(res);
    expect({ wrapping: answer.wrapping, code: 'fault' in answer.response ? answer.response.fault.code : 'no fault' }).toEqual({ wrapping: 'plain', code });
    return answer;
  }

  /** A fault sent to an authenticated caller: signed by us and encrypted to the caller (§2.3, checklist 21). */
  async function expectWrappedFault(res: MnetHttpResponse, code: number): Promise<{ code: number; message: string; payload: string }> {
    const answer = await answerOf(res);
    expect({ wrapping: answer.wrapping, verified: answer.verified }).toEqual({ wrapping: 'encrypted', verified: true });
    if (!('fault' in answer.response)) throw new Error(`expected fault ${code}, got a result`);
    expect(answer.response.fault.code).toBe(code);
    return { ...answer.response.fault, payload: answer.payload };
  }

  async function expectAccepted(res: MnetHttpResponse, value: XmlRpcValue): Promise<void> {
    const answer = await answerOf(res);
    expect(answer).toMatchObject({ wrapping: 'encrypted', verified: true, response: { value } });
  }

  const expectNothingRan = () => expect(ran).toEqual([]);

  /** Re-encodes one base64 field of an envelope after changing its bytes. */
  function editBase64(doc: string, element: RegExp, edit: (bytes: Buffer) => Buffer): string {
    return doc.replace(element, (_all, open: string, text: string, close: string) => open + edit(Buffer.from(text, 'base64')).toString('base64') + close);
  }
  const flipByte = (index: number) => (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    copy[index]! ^= 0x01;
    return copy;
  };

  // ---- 7.5 steps 1–3: before any envelope is read ------------------------------------------------------

  describe('networking switch (checklist 2)', () => {
    it('answers HTTP 403 with an empty body when networking is off', async () => {
      const res = await handle(await request(ECHO), { server: serverWith({ networking: false }) });
      expect([res.status, res.body.length]).toEqual([403, 0]);
      expectNothingRan();
    });

    it('answers plain fault 6012 when networking is off and debugging on', async () => {
      await expectPlainFault(await handle(await request(ECHO), { server: serverWith({ networking: false, debug: true }) }), FaultCode.NetworkingOff);
      expectNothingRan();
    });
  });

  describe('Host header (checklist 5)', () => {
    it.each([
      ['another host name', 'evil.test'],
      ['our host name as a suffix', 'mahara.test.evil.test'],
      ['a subdomain of ours', 'www.mahara.test'],
    ])('refuses %s with plain fault 6013', async (_case, host) => {
      await expectPlainFault(await handle(await request(ECHO), { host }), FaultCode.WrongHost);
      expectNothingRan();
    });

    it.each([
      ['our host name', HOST],
      ['our host name with a port (ports are ignored)', `${HOST}:8443`],
      ['no Host header at all', undefined],
    ])('accepts %s', async (_case, host) => {
      await expectAccepted(await handle(await request(ECHO, ['hi']), { host }), ['echo', 'hi']);
      expect(ran).toEqual([ECHO]);
    });

    it('accepts any host name when the check is off', async () => {
      await expectAccepted(await handle(await request(ECHO, ['hi']), { host: 'evil.test', server: serverWith({ checkHost: false }) }), ['echo', 'hi']);
      expect(ran).toEqual([ECHO]);
    });
  });

  describe('XML well-formedness and document type (checklist 3, 4)', () => {
    it.each([
      ['an empty body', ''],
      ['text that is not XML', 'system/keyswap please'],
      ['an unclosed root', '<methodCall><methodName>system/keyswap</methodName>'],
      ['mismatched tags', '<methodCall></methodResponse>'],
      ['two roots', '<methodCall/><methodCall/>'],
      ['an undeclared entity', '<methodCall><methodName>&nope;</methodName></methodCall>'],
      ['binary noise', crypto.randomBytes(64).toString('latin1')],
    ])('refuses %s with plain fault 6001', async (_case, body) => {
      await expectPlainFault(await handle(body), FaultCode.NotXml);
    });

    const xxe =
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
      '<methodCall><methodName>&xxe;</methodName><params/></methodCall>';
    const lols = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
    const billionLaughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">${lols}]><methodCall><methodName>&lol9;</methodName></methodCall>`;

    it.each([
      ['an external entity (XXE)', xxe],
      ['nested entities (billion laughs)', billionLaughs],
      ['a DOCTYPE without entities', '<?xml version="1.0"?><!DOCTYPE methodCall><methodCall><methodName>system/keyswap</methodName></methodCall>'],
    ])('refuses %s with plain fault 6001 and expands nothing', async (_case, body) => {
      const started = Date.now();
      const answer = await expectPlainFault(await handle(body), FaultCode.NotXml);
      expect(Date.now() - started).toBeLessThan(2000);
      // An expanded entity would surface in the fault string (the method name is echoed in 6010).
      expect(answer.payload).not.toMatch(/root:|lollol/);
      expect(answer.payload.length).toBeLessThan(1000);
    });

    it('refuses a DOCTYPE inside the signed payload of an authenticated request with 6007', async () => {
      const payload = Buffer.from(xxe.replace('&xxe;', ECHO));
      await expectPlainFault(await handle(await encrypted(signed(payload))), FaultCode.SignedPayloadNotXml);
      expectNothingRan();
    });

    it.each([
      ['an unknown root element, plain', () => Promise.resolve(Buffer.from('<?xml version="1.0"?><hello/>'))],
      ['a methodResponse, plain', () => Promise.resolve(Buffer.from('<methodResponse><params><param><value>x</value></param></params></methodResponse>'))],
      ['an unknown root element inside the envelopes', () => encrypted(signed(Buffer.from('<?xml version="1.0"?><methodCal/>')))],
    ])('refuses %s with fault 6009', async (_case, body) => {
      await expectPlainFault(await handle(await body()), FaultCode.UnknownRoot);
      expectNothingRan();
    });

    it.each([
      ['an empty methodName, plain', () => Promise.resolve(Buffer.from('<methodCall><methodName></methodName><params/></methodCall>'))],
      ['no methodName, plain', () => Promise.resolve(Buffer.from('<methodCall><params/></methodCall>'))],
      ['an empty methodName inside the envelopes', () => encrypted(signed(Buffer.from('<methodCall><methodName> </methodName><params/></methodCall>')))],
    ])('refuses %s with fault 6008', async (_case, body) => {
      await expectPlainFault(await handle(await body()), FaultCode.NotXmlRpc);
      expectNothingRan();
    });
  });

  // ---- 7.5 step 4: the encrypted envelope ------------------------------------------------------------------

  describe('decryption (checklist 30–32)', () => {
    const DATA = /(<EncryptedData[\s\S]*?<CipherValue>)([^<]*)(<\/CipherValue>)/;
    const KEY = /(<EncryptedKey[\s\S]*?<CipherValue>)([^<]*)(<\/CipherValue>)/;

    it.each([
      ['a flipped bit in the encrypted RC4 key', KEY, flipByte(100)],
      ['a flipped bit at the start of the encrypted data', DATA, flipByte(0)],
    ])('refuses %s with plain fault 7023', async (_case, element, edit) => {
      const body = editBase64((await request(ECHO)).toString('latin1'), element, edit);
      await expectPlainFault(await handle(body), FaultCode.CannotDecrypt);
      expectNothingRan();
    });

    it('refuses a request encrypted to a key we never had with plain fault 7023, not 7025', async () => {
      await expectPlainFault(await handle(await request(ECHO, [], { to: NEVER_OURS_CERT })), FaultCode.CannotDecrypt);
      expectNothingRan();
    });

    it('answers a request encrypted to our previous key with 7025 = our new certificate, signed with the previous key', async () => {
      const previous = await services.keys.current();
      await services.keys.rotate();
      const current = await services.keys.current();
      expect(current.certificatePem).not.toBe(previous.certificatePem);

      const res = await handle(await request(ECHO, ['to the old key'], { to: previous.certificatePem }));

      const answer = await answerOf(res, previous.certificatePem);
      expect(answer).toMatchObject({ wrapping: 'encrypted', verified: true, response: { fault: { code: FaultCode.OldKey, message: current.certificatePem } } });
      expect((await answerOf(res, current.certificatePem)).verified).toBe(false);
      expectNothingRan();
    });

    it('keeps 6 old keys: the 6th-newest still gets 7025, the 7th gets 7023', async () => {
      const retired: string[] = []; // oldest first
      for (let i = 0; i < 7; i++) {
        retired.push((await services.keys.current()).certificatePem);
        await services.keys.rotate();
      }
      const current = (await services.keys.current()).certificatePem;
      const sixthNewest = retired[retired.length - 6]!;
      const seventhNewest = retired[retired.length - 7]!;
      expect(Number((await testDb.db('site_keys').count({ n: '*' }).first())!.n)).toBe(7);

      const old = await answerOf(await handle(await request(ECHO, [], { to: sixthNewest })), sixthNewest);
      expect(old).toMatchObject({ wrapping: 'encrypted', verified: true, response: { fault: { code: FaultCode.OldKey, message: current } } });
      await expectPlainFault(await handle(await request(ECHO, [], { to: seventhNewest })), FaultCode.CannotDecrypt);
      expectNothingRan();
    });
  });

  // ---- 7.5 step 5: the signed envelope -------------------------------------------------------------------

  describe('sender and signature (checklist 14, 16–18)', () => {
    it.each([
      ['an unknown wwwroot', 'http://unknown.test'],
      ['a deleted peer', DELETED_WWWROOT],
    ])('refuses %s with plain fault 6003', async (_case, as) => {
      await expectPlainFault(await handle(await request(ECHO, [], { as })), FaultCode.UnknownPeer);
      expectNothingRan();
    });

    it.each([
      ['another known peer', () => refusingPeer.wwwroot],
      ['an unknown site', () => 'http://elsewhere.test'],
    ])('refuses outer and inner wwwroots that differ (outer = %s) with 6004, without a key refresh', async (_case, outer) => {
      await expectPlainFault(await handle(await request(ECHO, [], { outer: outer() })), FaultCode.BadSignature);
      expect(refreshBodies).toEqual([]);
      expectNothingRan();
    });

    it('accepts a trailing slash on either wwwroot', async () => {
      await expectAccepted(await handle(await request(ECHO, ['slash'], { as: `${MOODLE_WWWROOT}/`, outer: MOODLE_WWWROOT })), ['echo', 'slash']);
      expect(ran).toEqual([ECHO]);
    });

    it('accepts a wrong DigestValue when the signature is valid', async () => {
      const doc = signed(encodeMethodCall(ECHO, ['digest'])).toString('latin1').replace(/<DigestValue>[0-9a-f]{40}</, `<DigestValue>${'0'.repeat(40)}<`);
      await expectAccepted(await handle(await encrypted(Buffer.from(doc, 'latin1'))), ['echo', 'digest']);
      expect(ran).toEqual([ECHO]);
    });

    const OBJECT = /(<object ID="XMLRPC-MSG">)([^<]*)(<\/object>)/;
    const SIGNATURE = /(<SignatureValue>)([^<]*)(<\/SignatureValue>)/;
    it.each([
      ['a payload swapped after signing', OBJECT, () => encodeMethodCall(ECHO, ['tampered'])],
      ['a flipped bit in the signature', SIGNATURE, flipByte(17)],
    ])('refuses %s with 6004 after exactly one listServices refresh, the peer being unreachable', async (_case, element, edit) => {
      const doc = editBase64(signed(encodeMethodCall(ECHO, ['original']), { as: refusingPeer.wwwroot }).toString('latin1'), element, edit);
      const body = await encrypted(Buffer.from(doc, 'latin1'), { as: refusingPeer.wwwroot });

      // A fresh server: refreshes are rate-limited per peer across requests.
      await expectPlainFault(await handle(body, { server: serverWith({}) }), FaultCode.BadSignature);

      expectNothingRan();
      // §3.3 step 3: one encrypted system/listServices call, encrypted to the key we have stored for the peer.
      expect(refreshBodies).toHaveLength(1);
      const opened = await decryptEnvelope(readEncryptedMessage(parseXml(refreshBodies[0]!, 0)), [moodleKey]);
      const call = decodeMethodCall(parseXml(readSignedMessage(parseXml(opened!.plaintext, 0)).payload, 0));
      expect(call.methodName).toBe(MethodPath.listServices);
    });

    it('shares one refresh among concurrent and following bad signatures from the same peer (no reflection)', async () => {
      const refreshed: string[] = [];
      const server = serverWith({}, {
        refreshPeerKey: async (peer) => {
          refreshed.push(peer.wwwroot);
          await new Promise((r) => setTimeout(r, 50));
        },
      });
      const bad = async () => {
        const doc = editBase64(signed(encodeMethodCall(ECHO, []), { as: gonePeer.wwwroot }).toString('latin1'), SIGNATURE, flipByte(3));
        return handle(await encrypted(Buffer.from(doc, 'latin1'), { as: gonePeer.wwwroot }), { server });
      };
      const answers = await Promise.all([bad(), bad(), bad()]);
      for (const answer of answers) await expectPlainFault(answer, FaultCode.BadSignature);
      await expectPlainFault(await bad(), FaultCode.BadSignature);
      expect(refreshed).toEqual([gonePeer.wwwroot]);
      expectNothingRan();
    });

    it('refuses a bad signature with 6004 after one refresh attempt when nothing listens at the peer', async () => {
      const refreshed: string[] = [];
      const server = serverWith({}, {
        refreshPeerKey: async (peer) => {
          refreshed.push(peer.wwwroot);
          await services.client.call(peer, MethodPath.listServices, []);
        },
      });
      const doc = editBase64(signed(encodeMethodCall(ECHO, []), { as: gonePeer.wwwroot }).toString('latin1'), SIGNATURE, flipByte(3));
      const body = await encrypted(Buffer.from(doc, 'latin1'), { as: gonePeer.wwwroot });

      await expectPlainFault(await handle(body, { server }), FaultCode.BadSignature);
      expect(refreshed).toEqual([gonePeer.wwwroot]);
      expectNothingRan();
    });

    it('processes a request signed with a peer\'s new key once the refresh has stored it (7025 from the peer)', async () => {
      const fake = await FakePeer.start();
      try {
        const previousPem = fake.certificatePem;
        await registerPeer(fake.wwwroot, previousPem);
        fake.trusted.set(MAHARA_WWWROOT, await ourPem());
        fake.handlers.set(MethodPath.listServices, () => []);
        await fake.rotate();

        const res = await handle(fake.buildRequest(await ourPem(), encodeMethodCall(ECHO, ['rotated'])));

        expect(ran).toEqual([ECHO]);
        expect((await findPeer(testDb.db, fake.wwwroot))!.publicKeyPem).toBe(fake.certificatePem);
        expect(fake.calls.map((c) => c.method)).toEqual([MethodPath.listServices]);
        // The answer goes to the caller's stored certificate, which is now the new one.
        const opened = await fake.openResponse(res.body, await ourPem());
        expect(opened.verified).toBe(true);
        expect(decodeMethodResponse(parseXml(opened.payload, 0))).toEqual({ value: ['echo', 'rotated'] });
      } finally {
        await fake.stop();
      }
    });
  });

  // ---- 7.5 steps 6–8: the XML-RPC call -------------------------------------------------------------------

  describe('strict mode (checklist 19)', () => {
    it.each([
      ['signed but not encrypted', async () => signed(encodeMethodCall(ECHO, []))],
      ['plain', async () => encodeMethodCall(ECHO, [])],
      ['plain, for a system method', async () => encodeMethodCall(MethodPath.listServices, [])],
    ])('refuses a protected method called %s with plain fault 6005', async (_case, body) => {
      await expectPlainFault(await handle(await body()), FaultCode.NotSignedAndEncrypted);
      expectNothingRan();
    });

    it('refuses a protected method encrypted but not signed with plain fault 6005 (§4.3 step 4)', async () => {
      await expectPlainFault(await handle(await encrypted(encodeMethodCall(ECHO, []))), FaultCode.NotSignedAndEncrypted);
      expectNothingRan();
    });

    it('answers system/keyswap encrypted but not signed (§5.4)', async () => {
      const answer = await answerOf(await handle(await encrypted(encodeMethodCall(MethodPath.keyswap, [MOODLE_WWWROOT, MOODLE_CERT]))));
      expect(answer).toMatchObject({ wrapping: 'plain', response: { value: await ourPem() } });
    });

    it('answers system/keyswap signed but not encrypted, signed and unencrypted', async () => {
      const answer = await answerOf(await handle(signed(encodeMethodCall(MethodPath.keyswap, [MOODLE_WWWROOT, MOODLE_CERT]))));
      expect(answer).toMatchObject({ wrapping: 'signed', verified: true, response: { value: await ourPem() } });
    });

    it('answers plain system/keyswap plainly', async () => {
      const answer = await answerOf(await handle(encodeMethodCall(MethodPath.keyswap, [MOODLE_WWWROOT, MOODLE_CERT])));
      expect(answer).toMatchObject({ wrapping: 'plain', response: { value: await ourPem() } });
    });
  });

  describe('method names (checklist 41, 43)', () => {
    it.each(['../x', '/abs', 'system.keyswap', 'a/b/../c', 'test/rpclib.php/../echo', 'test/<&>'])(
      'refuses %s from an authenticated peer with plain fault 6010',
      async (name) => {
        const answer = await expectPlainFault(await handle(await request(name)), FaultCode.InvalidMethodName);
        // The name is echoed in the fault string; it must arrive escaped (checklist 22).
        expect(answer.payload).not.toContain('<&>');
        expectNothingRan();
      },
    );

    it('refuses the dotted system.keyswap without the keyswap side effects (promiscuous mode on)', async () => {
      const server = serverWith({ promiscuous: true });
      const cert = parseCertificate(NEVER_OURS_CERT); // any certificate; it must not be stored
      const before = await listPeers(testDb.db, { includeDeleted: true });
      const res = await handle(encodeMethodCall('system.keyswap', ['http://newcomer.test', cert.pem, 'moodle']), { server });
      await expectPlainFault(res, FaultCode.InvalidMethodName);
      expect(await listPeers(testDb.db, { includeDeleted: true })).toHaveLength(before.length);
    });
  });

  describe('dispatch (checklist 44, 21, 22)', () => {
    it.each([
      ['an unknown method', 'test/rpclib.php/nope'],
      ['an unknown system method', 'system/listFiles'],
      ['a method of a service published to nobody', HIDDEN],
      ['a method of a service switched off for this peer', OPTED_OUT],
    ])('answers %s with 6011, signed and encrypted to the caller', async (_case, method) => {
      await expectWrappedFault(await handle(await request(method)), FaultCode.NoSuchMethod);
      expectNothingRan();
    });

    it('answers a handler\'s plain Error with 9099 and keeps its message to itself', async () => {
      const fault = await expectWrappedFault(await handle(await request(CRASH)), FaultCode.Internal);
      expect(fault.payload).not.toContain('hunter2');
      expect(fault.message).not.toContain('hunter2');
    });

    it('answers a handler\'s MnetFault with its code and message, signed and encrypted', async () => {
      const fault = await expectWrappedFault(await handle(await request(REFUSE)), FaultCode.Application);
      expect(fault.message).toBe('Importing content is disabled');
    });

    it('escapes markup in fault strings, which round-trip', async () => {
      const fault = await expectWrappedFault(await handle(await request(REFUSE_MARKUP)), FaultCode.Application);
      expect(fault.message).toBe(MARKUP);
      expect(fault.payload).toContain('Quota &lt;exceeded&gt; &amp;');
    });
  });

  // ---- §3.4: timestamps ------------------------------------------------------------------------------------

  describe('timestamps (checklist 23, 24)', () => {
    const NOW = new Date('2030-06-01T12:00:00Z');
    const windowed = () => serverWith({ requestWindowSeconds: 300 }, { now: () => NOW });
    let unique = 0;
    /** Identical payloads have identical signatures (they cover the XML-RPC bytes only): keep them apart. */
    const echoAt = (offset: number) => request(ECHO, [`window ${++unique}`], { timestamp: seconds(NOW) + offset });

    it.each([
      ['301 s behind', -301],
      ['301 s ahead', 301],
    ])('with a 300 s window, refuses a timestamp %s with plain fault 6014', async (_case, offset) => {
      await expectPlainFault(await handle(await echoAt(offset), { server: windowed() }), FaultCode.TimestampOutsideWindow);
      expectNothingRan();
    });

    it.each([
      ['299 s behind', -299],
      ['299 s ahead', 299],
    ])('with a 300 s window, accepts a timestamp %s', async (_case, offset) => {
      const body = await echoAt(offset);
      await expectAccepted(await handle(body, { server: windowed() }), ['echo', `window ${unique}`]);
      expect(ran).toEqual([ECHO]);
    });

    it('with a 300 s window, accepts a request once and refuses its replay with plain fault 6014', async () => {
      const body = await echoAt(0);
      await expectAccepted(await handle(body, { server: windowed() }), ['echo', `window ${unique}`]);
      await expectPlainFault(await handle(body, { server: windowed() }), FaultCode.TimestampOutsideWindow);
      expect(ran).toEqual([ECHO]);
    });

    it.each([
      ['an hour old', -3600],
      ['an hour ahead', 3600],
    ])('without a window (the default), accepts a request %s, and its replay', async (_case, offset) => {
      const body = await request(ECHO, ['late'], { timestamp: seconds(new Date()) + offset });
      await expectAccepted(await handle(body), ['echo', 'late']);
      await expectAccepted(await handle(body), ['echo', 'late']);
      expect(ran).toEqual([ECHO, ECHO]);
    });
  });
});
