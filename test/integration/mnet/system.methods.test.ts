/**
 * The introspection methods of §6 (listServices, listMethods, methodSignature, methodHelp), called the way
 * Moodle calls them: signed and encrypted through MnetServer.handle, answered signed and encrypted.
 * Checklist 38–40 and 42.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../../src/mnet/certificate.js';
import { decodeMethodResponse, encodeMethodCall, type XmlRpcValue } from '../../../src/mnet/codec.js';
import {
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
} from '../../../src/mnet/envelope.js';
import { MethodPath, type MethodDefinition } from '../../../src/mnet/methods.js';
import { savePeer } from '../../../src/mnet/peers.js';
import { parseXml } from '../../../src/mnet/xml.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MAHARA_CERT, MAHARA_KEY, MAHARA_WWWROOT, MOODLE_CERT, MOODLE_WWWROOT, moodleKey } from '../../helpers/fixtures.js';
import { createTestServices, installSiteKey } from '../../helpers/services.js';
import { signedMessageWithKey } from '../../helpers/sign.js';

const maharaPublicKey = parseCertificate(MAHARA_CERT).publicKey;

/** Methods registered for the tests, by service; `hidden` is published to nobody. */
// Not real paths: the real portfolio methods are registered by the pf service.
const INTENT = 'mod/testexport/lib.php/announce_export';
const READY = 'mod/testexport/lib.php/export_ready';
// Not a real path: the real user_authorise is registered by the sso_idp service.
const AUTHORISE = 'auth/test/auth.php/confirm_token';
const HIDDEN = 'hidden/rpclib.php/secret';
const SYSTEM_METHODS = [MethodPath.listMethods, MethodPath.listServices, MethodPath.methodHelp, MethodPath.methodSignature];

const definitions: Array<Omit<MethodDefinition, 'handler'>> = [
  {
    path: INTENT,
    service: 'portfolio',
    params: [{ name: 'username', type: 'string', description: 'the exporting user' }],
    returns: { type: 'struct', description: '{sendtype, token}' },
    help: 'Announces a portfolio export.',
  },
  {
    path: READY,
    service: 'portfolio',
    params: [
      { name: 'token', type: 'string', description: 'from send_content_intent' },
      { name: 'username', type: 'string', description: 'the exporting user' },
      { name: 'format', type: 'string', description: 'file or leap2a' },
      { name: 'importdata', type: 'struct', description: 'manifest and sizes' },
      { name: 'wait', type: 'boolean', description: 'import now' },
    ],
    returns: { type: 'struct', description: '{status, type, querystring}' },
    help: 'Says the export is ready to be fetched.',
  },
  {
    path: AUTHORISE,
    service: 'sso',
    params: [
      { name: 'token', type: 'string', description: 'SSO token' },
      { name: 'useragent', type: 'string', description: 'sha1 of the User-Agent' },
    ],
    returns: { type: 'struct', description: 'the user' },
    help: 'Confirms an SSO token.',
  },
  { path: HIDDEN, service: 'hidden', params: [], returns: { type: 'boolean', description: 'nothing' }, help: 'Not for peers.' },
];

/** The Moodle-form signature of a registered method (§6): {parameters: [{name, type, description}], return}. */
function moodleSignature(path: string): XmlRpcValue {
  const def = definitions.find((d) => d.path === path)!;
  return { parameters: def.params.map((p) => ({ ...p })), return: { ...def.returns } };
}

describe.each(engines)('system methods through MnetServer.handle ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  /** Methods the real services register (sso_sp, …): left out, so this file tests only its own definitions. */
  let builtIn: Set<string>;
  const withoutBuiltIn = (value: XmlRpcValue) => (value as string[]).filter((p) => !builtIn.has(p));

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: MAHARA_WWWROOT } });
    await installSiteKey(testDb.db, MAHARA_CERT, MAHARA_KEY, parseCertificate(MAHARA_CERT).validTo);
    await services.keys.reload();
    const moodleCert = parseCertificate(MOODLE_CERT);
    await savePeer(testDb.db, { wwwroot: MOODLE_WWWROOT, name: 'Moodle', application: 'moodle', publicKeyPem: moodleCert.pem, publicKeyExpires: moodleCert.validTo }, new Date());

    const { registry } = services;
    builtIn = new Set(registry.listMethods().filter((p) => !(SYSTEM_METHODS as string[]).includes(p)));
    registry.registerService({ name: 'portfolio', description: '', publishedByDefaultTo: ['moodle'], subscribedByDefaultTo: [] });
    registry.registerService({ name: 'sso', description: '', publishedByDefaultTo: ['moodle'], subscribedByDefaultTo: ['moodle'] });
    registry.registerService({ name: 'hidden', description: '', publishedByDefaultTo: [], subscribedByDefaultTo: [] });
    for (const def of definitions) registry.register({ ...def, handler: async () => true });
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  /**
   * Calls `method` as Moodle would (signed with Moodle's key, encrypted to ours) and opens the answer as
   * Moodle would. Every answer must be signed+encrypted, verify, and never contain <nil/> (checklist 42).
   */
  async function call(method: string, params: XmlRpcValue[] = []): Promise<{ value: XmlRpcValue; payload: string }> {
    const signed = signedMessageWithKey({
      payload: encodeMethodCall(method, params),
      wwwroot: MOODLE_WWWROOT,
      timestamp: Math.floor(Date.now() / 1000),
      privateKey: moodleKey.privateKey,
      publicKeyUrl: `${MOODLE_WWWROOT}/mnet/publickey.php`,
    });
    const body = buildEncryptedMessage({ plaintext: signed, wwwroot: MOODLE_WWWROOT, recipientKey: maharaPublicKey });
    const res = await services.mnetServer.handle({ body, host: 'mahara.test' });

    const opened = await decryptEnvelope(readEncryptedMessage(parseXml(res.body, 0)), [moodleKey]);
    if (!opened) throw new Error(`${method}: the answer is not encrypted to Moodle`);
    const message = readSignedMessage(parseXml(opened.plaintext, 0));
    expect(verifySignedMessage(message, maharaPublicKey)).toBe(true);
    const payload = message.payload.toString('utf8');
    expect(payload).not.toMatch(/<(?:\w+:)?nil\b/);
    const response = decodeMethodResponse(parseXml(payload, 0));
    if ('fault' in response) throw new Error(`${method} answered fault ${response.fault.code}`);
    return { value: response.value, payload };
  }

  describe('system/listServices (checklist 38)', () => {
    it('lists Mahara\'s four service containers with integer flags 1', async () => {
      const { value } = await call(MethodPath.listServices);
      const mahara = ['sso_in', 'sso_out', 'portfolio_in', 'repository_out'].map((name) => ({ name, apiversion: 1, publish: 1, subscribe: 1 }));
      expect(value).toEqual(expect.arrayContaining(mahara));
    });

    it('adds our own services with the caller\'s effective flags, leaving out those the caller has neither way', async () => {
      const { value } = await call(MethodPath.listServices);
      const ours = (value as Array<{ name: string }>).filter((s) => ['portfolio', 'sso', 'hidden'].includes(s.name));
      expect(ours).toEqual([
        { name: 'portfolio', apiversion: 1, publish: 1, subscribe: 0 },
        { name: 'sso', apiversion: 1, publish: 1, subscribe: 1 },
      ]);
    });
  });

  describe('system/listMethods (checklist 39)', () => {
    const published = [...SYSTEM_METHODS, INTENT, READY, AUTHORISE].sort();

    it('returns the sorted paths the caller may call, without methods of unpublished services', async () => {
      const { value } = await call(MethodPath.listMethods);
      expect(withoutBuiltIn(value)).toEqual(published);
      expect([...(value as string[])].sort()).toEqual(value);
    });

    it.each([
      ['portfolio', [INTENT, READY]],
      ['sso', [AUTHORISE]],
      ['system', [...SYSTEM_METHODS].sort()],
      ['hidden', []], // exists, but is not published to Moodle
      ['no_such_service', []],
      ['', published], // empty = all, as Moodle's client sends no argument
    ])('with service %j returns only that service\'s paths', async (service, expected) => {
      expect(withoutBuiltIn((await call(MethodPath.listMethods, [service])).value)).toEqual(expected);
    });
  });

  describe('system/methodSignature and system/methodHelp (checklist 40)', () => {
    it.each([
      ['a full path', INTENT, INTENT],
      ['a short function name', 'export_ready', READY],
      ['a system method', MethodPath.listMethods, null],
    ])('methodSignature of %s returns the Moodle-form struct', async (_case, name, path) => {
      const { value } = await call(MethodPath.methodSignature, [name]);
      if (path) {
        expect(value).toEqual(moodleSignature(path));
      } else {
        expect(value).toEqual({
          parameters: [{ name: 'service', type: 'string', description: expect.any(String) }],
          return: { type: 'array', description: expect.any(String) },
        });
      }
    });

    it.each([
      ['a full path', AUTHORISE, 'Confirms an SSO token.'],
      ['a short function name', 'announce_export', 'Announces a portfolio export.'],
    ])('methodHelp of %s returns the help string', async (_case, name, help) => {
      expect((await call(MethodPath.methodHelp, [name])).value).toBe(help);
    });

    it.each([
      ['an unknown path', ['auth/mnet/auth.php/no_such_function']],
      ['an unknown short name', ['no_such_function']],
      ['an empty name', ['']],
      ['no argument', []],
      ['a non-string argument', [42]],
    ] as Array<[string, XmlRpcValue[]]>)('for %s both return false, never nothing', async (_case, params) => {
      for (const method of [MethodPath.methodSignature, MethodPath.methodHelp]) {
        const { value, payload } = await call(method, params);
        expect(value).toBe(false);
        expect(payload).toContain('<boolean>0</boolean>');
      }
    });
  });
});
