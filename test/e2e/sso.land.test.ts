import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { findSession } from '../../src/identity/sessions.js';
import { createUser, findUserById, findUserByUsername, setLoginAllowed } from '../../src/identity/users.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { addPeer } from '../../src/mnet/peer-admin.js';
import type { Peer } from '../../src/mnet/peers.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { FakeFault, FakePeer } from '../helpers/fake-peer.js';
import { callUsAs, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';

/**
 * SSO from a Moodle IdP into us (§8.1, §8.3, §8.5 kill_child, §8.6; checklist 46–53): our whole service
 * on loopback, a FakePeer as the Moodle IdP answering user_authorise, a browser played by fetch.
 */
const UA = 'Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0';
const sha1 = (text: string) => crypto.createHash('sha1').update(text, 'utf8').digest('hex');

/** A user record as Moodle sends it (§8.4): every scalar a string, `myhosts[].count` an int. */
function moodleRecord(username: string, extra: Record<string, XmlRpcValue> = {}): XmlRpcStruct {
  return {
    auth: 'mnet',
    deleted: '0',
    username,
    firstname: 'Jo',
    lastname: 'Smith',
    email: `${username.toLowerCase()}@lms.example.edu`,
    city: 'Dunedin',
    country: 'NZ',
    lang: 'en',
    timezone: '99',
    picture: '0',
    description: '',
    mailformat: '1',
    maildigest: '0',
    maildisplay: '2',
    wwwroot: 'set-below',
    'session.gc_maxlifetime': '7200',
    myhosts: [{ name: 'LMS', url: 'set-below', count: 3 }],
    ...extra,
  };
}

describe.each(engines)('SSO landing from a Moodle IdP ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let wwwroot: string;
  let idp: FakePeer;
  let stranger: FakePeer;
  let peer: Peer;
  /** The IdP's mnet_session rows: token → UA hash and the record user_authorise answers. */
  const sessionsAtIdp = new Map<string, { uaHash: string; record: XmlRpcStruct }>();

  const db = () => running.services.db;

  beforeAll(async () => {
    service = await startServiceOn(engine.name);
    ({ running, wwwroot } = service);
    [idp, stranger] = await Promise.all([FakePeer.start(), FakePeer.start()]);
    const s = running.services;
    peer = await addPeer({ db: s.db, client: s.client, log: s.log, now: s.now }, { wwwroot: idp.wwwroot, application: 'moodle', name: 'Test LMS' });
    await updatePeerIdentitySettings(s.db, peer.id, { ssoDirection: 'theyssoin', weAutoCreateUsers: true, updateUserInfoOnLogin: true });
    idp.trusted.set(wwwroot, (await s.keys.current()).certificatePem);
    // Moodle's user_authorise (§8.1 step 4): the token and the UA hash must match a session, else fault 1.
    idp.handlers.set(MethodPath.userAuthorise, (params) => {
      const [token, uaHash] = params;
      const row = typeof token === 'string' ? sessionsAtIdp.get(token) : undefined;
      if (!row || row.uaHash !== uaHash) throw new FakeFault(1, 'Authorisation failed: the mnet session does not exist.');
      return row.record;
    });
  });

  afterAll(async () => {
    await idp?.stop();
    await stranger?.stop();
    await service?.stop();
  });

  /** Moodle's jump.php: a fresh token for this user and browser. */
  function jump(username: string, extra: Record<string, XmlRpcValue> = {}, ua = UA): string {
    const token = crypto.randomBytes(20).toString('hex');
    const record = moodleRecord(username, { wwwroot: idp.wwwroot, myhosts: [{ name: 'LMS', url: idp.wwwroot, count: 3 }], ...extra });
    sessionsAtIdp.set(token, { uaHash: sha1(ua), record });
    return token;
  }

  async function land(query: Record<string, string>, options: { ua?: string; cookie?: string } = {}) {
    const response = await fetch(`${wwwroot}/auth/xmlrpc/land.php?${new URLSearchParams(query)}`, {
      redirect: 'manual',
      headers: { 'User-Agent': options.ua ?? UA, ...(options.cookie ? { Cookie: `pis_session=${options.cookie}` } : {}) },
    });
    const cookies = response.headers.getSetCookie();
    const match = cookies.map((c) => /^pis_session=([0-9a-f]{64});/.exec(c)).find((m) => m);
    return { response, cookies, sessionToken: match?.[1], location: response.headers.get('location'), text: await response.text() };
  }

  /** Lands `username` at our root and expects success. */
  async function landAs(username: string, extra: Record<string, XmlRpcValue> = {}, cookie?: string) {
    const result = await land({ token: jump(username, extra), idp: idp.wwwroot, wantsurl: '/' }, { cookie });
    expect(result.response.status, result.text).toBe(303);
    const session = await findSession(db(), result.sessionToken!, new Date());
    expect(session).toBeDefined();
    return { ...result, session: session!, user: (await findUserById(db(), session!.userId))! };
  }

  const authoriseCalls = () => idp.calls.filter((c) => c.method === MethodPath.userAuthorise).length;
  const countRows = async (table: string) => Number((await db()(table).count({ n: '*' }))[0]!.n);

  /** Calls one of our methods as the IdP does: signed with its key, encrypted to ours, over HTTP. */
  async function callUsAsIdp(method: string, params: XmlRpcValue[]) {
    const answer = await callUsAs(idp, service, method, params);
    expect(answer.status).toBe(200);
    expect(answer.verified).toBe(true);
    return answer.response;
  }

  it('logs a new user in: user_authorise(token, sha1(UA)), 303 with a session cookie (checklist 47, 49)', async () => {
    const token = jump('alice', { idnumber: 'S-100' });
    const { response, cookies, sessionToken, location } = await land({ token, idp: idp.wwwroot, wantsurl: '/view/index.php?id=3' });
    expect(response.status).toBe(303);
    expect(location).toBe(`${wwwroot}/view/index.php?id=3`);
    expect(idp.calls.at(-1)).toMatchObject({ method: MethodPath.userAuthorise, params: [token, sha1(UA)], encrypted: true });
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^pis_session=[0-9a-f]{64}; /);
    expect(cookies[0]).toContain('HttpOnly');
    expect(cookies[0]).toContain('SameSite=Lax');
    expect(cookies[0]).toContain('Path=/');
    expect(cookies[0]).not.toContain('Secure'); // our wwwroot is http
    const session = (await findSession(db(), sessionToken!, new Date()))!;
    const user = (await findUserById(db(), session.userId))!;
    expect(user).toMatchObject({ username: 'alice', firstName: 'Jo', lastName: 'Smith', email: 'alice@lms.example.edu', studentId: 'S-100' });
    expect(session).toMatchObject({ idpPeerId: peer.id, remoteUsername: 'alice', userAgentSha1: sha1(UA) });
    const expiresIn = session.expiresAt.getTime() - session.createdAt.getTime();
    expect(expiresIn).toBe(running.services.config.sessionLifetimeSeconds * 1000);
    // We store no profile pictures yet, so fetch_user_image is never asked for.
    expect(idp.calls.some((c) => c.method.endsWith('/fetch_user_image'))).toBe(false);
  });

  it('refuses a second Moodle user who carries the idnumber of an account here, instead of handing that account over', async () => {
    const first = await landAs('twin-a', { idnumber: 'DUP-ID' });
    const result = await land({ token: jump('twin-b', { idnumber: 'DUP-ID' }), idp: idp.wwwroot, wantsurl: '/' });
    expect(result.response.status).toBe(403);
    expect(result.sessionToken).toBeUndefined();
    expect(await findUserByUsername(db(), 'twin-b')).toBeUndefined();
    expect((await findUserById(db(), first.user.id))!.username).toBe('twin-a');
  });

  it('shows "no auth instances" for an unknown IdP and makes no MNet call (checklist 46)', async () => {
    const before = idp.calls.length;
    const { response, cookies, text } = await land({ token: 'abc', idp: stranger.wwwroot, wantsurl: '/x' });
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(text).toContain(`no auth instances for ${stranger.wwwroot}`);
    expect(cookies).toEqual([]);
    expect(stranger.calls).toEqual([]);
    expect(idp.calls.length).toBe(before);
  });

  it('escapes what the link carries in the refusal page', async () => {
    const { response, text } = await land({ token: 'abc', idp: 'http://x.test/<script>alert(1)</script>' });
    expect(response.status).toBe(403);
    expect(text).not.toContain('<script>');
    expect(text).toContain('&#60;script&#62;');
  });

  it('answers 400 when token or idp is missing', async () => {
    expect((await land({ idp: idp.wwwroot })).response.status).toBe(400);
    expect((await land({ token: 'abc' })).response.status).toBe(400);
    const repeated = await fetch(`${wwwroot}/auth/xmlrpc/land.php?token=a&token=b&idp=${encodeURIComponent(idp.wwwroot)}`, { redirect: 'manual' });
    expect(repeated.status).toBe(400);
  });

  it('refuses an IdP whose users may not sign in here (theyssoin off), without calling it', async () => {
    await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'none' });
    try {
      const before = authoriseCalls();
      const { response, cookies, text } = await land({ token: jump('ssooff'), idp: idp.wwwroot });
      expect(response.status).toBe(403);
      expect(text).toContain('We don&#39;t accept SSO connections from Test LMS');
      expect(cookies).toEqual([]);
      expect(authoriseCalls()).toBe(before);
    } finally {
      await updatePeerIdentitySettings(db(), peer.id, { ssoDirection: 'theyssoin' });
    }
  });

  it('refuses an unknown user when auto-creation is off, and creates nothing (checklist 49)', async () => {
    await updatePeerIdentitySettings(db(), peer.id, { weAutoCreateUsers: false });
    try {
      const users = await countRows('users');
      const mappings = await countRows('remote_users');
      const { response, cookies, text } = await land({ token: jump('nobody'), idp: idp.wwwroot });
      expect(response.status).toBe(403);
      expect(text).toContain('There is no account here for nobody');
      expect(cookies).toEqual([]);
      expect(await countRows('users')).toBe(users);
      expect(await countRows('remote_users')).toBe(mappings);
    } finally {
      await updatePeerIdentitySettings(db(), peer.id, { weAutoCreateUsers: true });
    }
  });

  it('gives a remote jsmith the name jsmith1 when a local jsmith exists, with a mapping as sent (checklist 49)', async () => {
    const local = await createUser(db(), { username: 'jsmith', firstName: 'Local' });
    const { user } = await landAs('JSmith');
    expect(user.id).not.toBe(local.id);
    expect(user.username).toBe('jsmith1');
    expect(await db()('remote_users').where({ user_id: user.id }).select('peer_id', 'remote_username')).toEqual([
      { peer_id: peer.id, remote_username: 'JSmith' },
    ]);
  });

  it('finds a returning user through the mapping, case-insensitively (checklist 50)', async () => {
    const first = await landAs('bob');
    const users = await countRows('users');
    const again = await landAs('BOB');
    expect(again.user.id).toBe(first.user.id);
    expect(await countRows('users')).toBe(users);
  });

  it('applies changed names, email and idnumber with updateuserinfoonlogin on, and not with it off (checklist 51)', async () => {
    const { user } = await landAs('carol');
    const changed = { firstname: 'Caroline', lastname: 'Jones', email: 'cj@lms.example.edu', idnumber: 'S-200' };
    const updated = await landAs('carol', changed);
    expect(updated.user).toMatchObject({ id: user.id, firstName: 'Caroline', lastName: 'Jones', email: 'cj@lms.example.edu', studentId: 'S-200' });

    await updatePeerIdentitySettings(db(), peer.id, { updateUserInfoOnLogin: false });
    try {
      const kept = await landAs('carol', { firstname: 'Carrie', lastname: 'Other', email: 'other@lms.example.edu', idnumber: 'S-999' });
      expect(kept.user).toMatchObject({ id: user.id, firstName: 'Caroline', lastName: 'Jones', email: 'cj@lms.example.edu', studentId: 'S-200' });
    } finally {
      await updatePeerIdentitySettings(db(), peer.id, { updateUserInfoOnLogin: true });
    }
  });

  it('refuses a user whose login is not allowed here', async () => {
    const { user } = await landAs('dave');
    await setLoginAllowed(db(), user.id, false);
    const { response, cookies, text } = await land({ token: jump('dave'), idp: idp.wwwroot });
    expect(response.status).toBe(403);
    expect(text).toContain('suspended');
    expect(cookies).toEqual([]);
  });

  it('refuses when the IdP faults: another browser gives another UA hash, Moodle answers fault 1 (checklist 48)', async () => {
    const token = jump('eve', {}, UA);
    const { response, cookies, text } = await land({ token, idp: idp.wwwroot }, { ua: 'SomeOtherBrowser/2.0' });
    expect(idp.calls.at(-1)).toMatchObject({ method: MethodPath.userAuthorise, params: [token, sha1('SomeOtherBrowser/2.0')] });
    expect(response.status).toBe(403);
    expect(text).toContain('does not know this sign-on request');
    expect(cookies).toEqual([]);
    expect(await findUserByUsername(db(), 'eve')).toBeUndefined();
  });

  it('refuses a user_authorise answer without a username (checklist 48)', async () => {
    const token = jump('ghost');
    delete sessionsAtIdp.get(token)!.record.username;
    const { response, cookies, text } = await land({ token, idp: idp.wwwroot });
    expect(response.status).toBe(403);
    expect(text).toContain('did not tell us who you are');
    expect(cookies).toEqual([]);
  });

  it('redirects to the IdP with remoteurl=1, else to us (checklist 52)', async () => {
    const remote = await land({ token: jump('frank'), idp: idp.wwwroot, wantsurl: '/mod/assign/view.php?id=7', remoteurl: '1' });
    expect(remote.response.status).toBe(303);
    expect(remote.location).toBe(`${idp.wwwroot}/mod/assign/view.php?id=7`);
    const local = await land({ token: jump('frank'), idp: idp.wwwroot, wantsurl: 'artefact/file/' });
    expect(local.location).toBe(`${wwwroot}/artefact/file/`);
    const none = await land({ token: jump('frank'), idp: idp.wwwroot });
    expect(none.location).toBe(`${wwwroot}/`);
  });

  it.each(['//evil.test', 'https://evil.test', '/\\evil.test', 'javascript:alert(1)', '/x\r\nSet-Cookie: a=b'])(
    'replaces the wantsurl %j by / (checklist 52)',
    async (wantsurl) => {
      const { response, location } = await land({ token: jump('frank'), idp: idp.wwwroot, wantsurl });
      expect(response.status).toBe(303);
      expect(location).toBe(`${wwwroot}/`);
    },
  );

  it('ends the session of whoever was logged in before the landing (§8.1 step 3)', async () => {
    const first = await landAs('grace');
    const second = await landAs('heidi', {}, first.sessionToken);
    expect(await findSession(db(), first.sessionToken!, new Date())).toBeUndefined();
    expect(second.session.id).not.toBe(first.session.id);
    expect(second.user.username).toBe('heidi');
  });

  it('kill_child from the IdP ends every session of the mapped user and returns true (checklist 53)', async () => {
    const one = await landAs('ivan');
    const two = await landAs('ivan');
    const other = await landAs('judy');
    expect(await callUsAsIdp(MethodPath.killChild, ['IVAN', sha1('any browser')])).toEqual({ value: true });
    expect(await findSession(db(), one.sessionToken!, new Date())).toBeUndefined();
    expect(await findSession(db(), two.sessionToken!, new Date())).toBeUndefined();
    expect(await findSession(db(), other.sessionToken!, new Date())).toBeDefined();
  });

  it('kill_child for a user unknown from this IdP returns false (checklist 53)', async () => {
    await createUser(db(), { username: 'localonly' });
    expect(await callUsAsIdp(MethodPath.killChild, ['localonly', sha1(UA)])).toEqual({ value: false });
    expect(await callUsAsIdp(MethodPath.killChild, ['never-seen', sha1(UA)])).toEqual({ value: false });
  });

  it('keepalive_client returns true (§8.6)', async () => {
    expect(await callUsAsIdp(MethodPath.keepaliveClient, [])).toEqual({ value: true });
  });

  it('lists sso_sp with its two methods to the IdP', async () => {
    const listed = await callUsAsIdp(MethodPath.listMethods, ['sso_sp']);
    expect(listed).toEqual({ value: [MethodPath.keepaliveClient, MethodPath.killChild] });
  });
});
