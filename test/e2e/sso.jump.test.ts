import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { createSession, findSession } from '../../src/identity/sessions.js';
import { KILL_CHILDREN_REFUSAL } from '../../src/identity/sso-idp-methods.js';
import { createUser, setLoginAllowed, type User } from '../../src/identity/users.js';
import type { XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { addPeer } from '../../src/mnet/peer-admin.js';
import { softDeletePeer, type Peer } from '../../src/mnet/peers.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { FakePeer } from '../helpers/fake-peer.js';
import { callUsAs as callUsAsPeer, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';

/**
 * SSO with us as the identity provider (§8.2, §8.4, §8.5 kill_children, §8.6; checklist 54–58): our whole
 * service on loopback, FakePeers as Moodle service providers calling our sso_idp methods, a browser played
 * by fetch with a session cookie.
 */
const UA = 'Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0';
const sha1 = (text: string) => crypto.createHash('sha1').update(text, 'utf8').digest('hex');

describe.each(engines)('SSO jump to a Moodle SP ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let wwwroot: string;
  /** The approved SP, a second approved SP, and a peer we do not sign on to. */
  let sp: FakePeer;
  let sp2: FakePeer;
  let closed: FakePeer;
  let spPeer: Peer;
  let sp2Peer: Peer;
  let closedPeer: Peer;
  /** Added to our service's clock, to step past the confirm window. */
  let clockOffsetMs = 0;
  let userCount = 0;

  const db = () => running.services.db;

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { now: () => new Date(Date.now() + clockOffsetMs) });
    ({ running, wwwroot } = service);
    [sp, sp2, closed] = await Promise.all([FakePeer.start(), FakePeer.start(), FakePeer.start()]);
    const s = running.services;
    const deps = { db: s.db, client: s.client, log: s.log, now: s.now };
    spPeer = await addPeer(deps, { wwwroot: sp.wwwroot, application: 'moodle', name: 'Test LMS' });
    sp2Peer = await addPeer(deps, { wwwroot: sp2.wwwroot, application: 'moodle', name: 'Second LMS' });
    closedPeer = await addPeer(deps, { wwwroot: closed.wwwroot, application: 'moodle', name: 'Closed LMS' });
    for (const peer of [spPeer, sp2Peer]) {
      await updatePeerIdentitySettings(s.db, peer.id, { ssoDirection: 'wessoout', theyAutoCreateUsers: true });
    }
    // The closed peer's users may come to us, ours may not go there.
    await updatePeerIdentitySettings(s.db, closedPeer.id, { ssoDirection: 'theyssoin' });
    const ourPem = (await s.keys.current()).certificatePem;
    for (const fake of [sp, sp2, closed]) {
      fake.trusted.set(wwwroot, ourPem);
      fake.handlers.set(MethodPath.killChild, () => true);
    }
  });

  afterAll(async () => {
    await sp?.stop();
    await sp2?.stop();
    await closed?.stop();
    await service?.stop();
  });

  /** A local user with a live session: the cookie a logged-in browser sends. */
  async function loggedIn(options: { email?: string; lifetimeSeconds?: number } = {}): Promise<{ user: User; cookie: string }> {
    userCount += 1;
    const user = await createUser(db(), {
      username: `user${userCount}`,
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: options.email ?? `user${userCount}@example.edu`,
    });
    const { token } = await createSession(db(), { userId: user.id, now: new Date(), lifetimeSeconds: options.lifetimeSeconds ?? 7200 });
    return { user, cookie: token };
  }

  async function jump(query: Record<string, string>, options: { cookie?: string; ua?: string } = {}) {
    const response = await fetch(`${wwwroot}/auth/xmlrpc/jump.php?${new URLSearchParams(query)}`, {
      redirect: 'manual',
      headers: { 'User-Agent': options.ua ?? UA, ...(options.cookie ? { Cookie: `pis_session=${options.cookie}` } : {}) },
    });
    const location = response.headers.get('location');
    return { response, location, url: location ? new URL(location) : undefined, text: await response.text() };
  }

  /** Jumps to `fake` and expects success; returns the token the SP would receive. */
  async function jumpTo(fake: FakePeer, cookie: string, ua = UA): Promise<string> {
    const result = await jump({ wr: fake.wwwroot, wantsurl: '/course/view.php?id=2' }, { cookie, ua });
    expect(result.response.status, result.text).toBe(303);
    return result.url!.searchParams.get('token')!;
  }

  /** Calls one of our methods as `fake` does: signed with its key, encrypted to ours, over HTTP. */
  async function callUsAs(fake: FakePeer, method: string, params: XmlRpcValue[]) {
    const answer = await callUsAsPeer(fake, service, method, params);
    expect(answer.status).toBe(200);
    expect(answer.verified).toBe(true);
    return answer.response;
  }

  const authorise = (fake: FakePeer, token: string, uaHash = sha1(UA)) => callUsAs(fake, MethodPath.userAuthorise, [token, uaHash]);
  const faultCode = (answer: Awaited<ReturnType<typeof callUsAs>>) => ('fault' in answer ? answer.fault.code : undefined);
  const isLive = async (cookie: string) => (await findSession(db(), cookie, new Date())) !== undefined;

  describe('jump.php (checklist 54)', () => {
    it('redirects with wr to the SP land page with a 40-hex token, our wwwroot as idp and wantsurl', async () => {
      const { user, cookie } = await loggedIn();
      const before = Date.now();
      const { response, url } = await jump({ wr: sp.wwwroot, ins: '7', wantsurl: '/course/view.php?id=2' }, { cookie });
      expect(response.status).toBe(303);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(`${url!.origin}${url!.pathname}`).toBe(`${sp.wwwroot}/auth/mnet/land.php`);
      expect([...url!.searchParams.keys()]).toEqual(['token', 'idp', 'wantsurl']);
      expect(url!.searchParams.get('token')).toMatch(/^[0-9a-f]{40}$/);
      expect(url!.searchParams.get('idp')).toBe(wwwroot);
      expect(url!.searchParams.get('wantsurl')).toBe('/course/view.php?id=2');

      const rows = await db()('sso_sessions').where({ user_id: user.id });
      expect(rows).toHaveLength(1);
      const session = (await findSession(db(), cookie, new Date()))!;
      expect(rows[0]).toMatchObject({ peer_id: spPeer.id, token: url!.searchParams.get('token'), useragent_sha1: sha1(UA), session_id: session.id });
      const window = new Date(rows[0].confirm_timeout).getTime() - before;
      expect(window).toBeGreaterThanOrEqual(29_000);
      expect(window).toBeLessThanOrEqual(31_000);
    });

    it('accepts hostwwwroot as wr, and sends wantsurl even when empty or absent', async () => {
      const { cookie } = await loggedIn();
      const absent = await jump({ hostwwwroot: sp.wwwroot }, { cookie });
      expect(absent.response.status).toBe(303);
      expect(absent.location).toMatch(/[?&]wantsurl=$/);
      expect(absent.url!.searchParams.get('wantsurl')).toBe('');
      const withPath = await jump({ hostwwwroot: `${sp.wwwroot}/`, wantsurl: '/p' }, { cookie });
      expect(withPath.response.status).toBe(303);
      expect(withPath.url!.searchParams.get('wantsurl')).toBe('/p');
      const empty = await jump({ wr: sp.wwwroot, wantsurl: '' }, { cookie });
      expect(empty.url!.searchParams.get('wantsurl')).toBe('');
    });

    it('replaces a wantsurl that is not a local path by /', async () => {
      const { cookie } = await loggedIn();
      const { url } = await jump({ wr: sp.wwwroot, wantsurl: 'https://evil.test/' }, { cookie });
      expect(url!.searchParams.get('wantsurl')).toBe('/');
    });

    it('a second jump replaces the first token', async () => {
      const { user, cookie } = await loggedIn();
      const first = await jumpTo(sp, cookie);
      const second = await jumpTo(sp, cookie);
      expect(second).not.toBe(first);
      expect(await db()('sso_sessions').where({ user_id: user.id }).pluck('token')).toEqual([second]);
      expect(faultCode(await authorise(sp, first))).toBe(1);
      expect(faultCode(await authorise(sp, second))).toBeUndefined();
    });

    it('answers 401 with a readable page without a live session', async () => {
      for (const cookie of [undefined, 'not-a-session', 'a'.repeat(64)]) {
        const { response, text } = await jump({ wr: sp.wwwroot }, { cookie });
        expect(response.status).toBe(401);
        expect(response.headers.get('content-type')).toMatch(/^text\/html/);
        expect(text).toContain('You need to be logged in');
      }
    });

    it('refuses a peer we do not sign on to, an unknown or deleted one, with a readable page and no row', async () => {
      const { user, cookie } = await loggedIn();
      const off = await jump({ wr: closed.wwwroot }, { cookie });
      expect(off.response.status).toBe(403);
      expect(off.text).toContain('Single sign-on to Closed LMS is not enabled');
      const unknown = await jump({ wr: 'http://unknown.test/<script>' }, { cookie });
      expect(unknown.response.status).toBe(403);
      expect(unknown.text).not.toContain('<script>');
      expect(unknown.text).toContain('&#60;script&#62;');
      expect(await db()('sso_sessions').where({ user_id: user.id })).toEqual([]);
    });

    it('refuses an SP that does not create our users unless the user is linked to it', async () => {
      const gone = await FakePeer.start();
      try {
        const s = running.services;
        const peer = await addPeer({ db: s.db, client: s.client, log: s.log, now: s.now }, { wwwroot: gone.wwwroot, application: 'moodle', name: 'Strict LMS' });
        await updatePeerIdentitySettings(s.db, peer.id, { ssoDirection: 'wessoout', theyAutoCreateUsers: false });
        const { user, cookie } = await loggedIn();
        const refused = await jump({ wr: gone.wwwroot }, { cookie });
        expect(refused.response.status).toBe(403);
        expect(refused.text).toContain('not linked to Strict LMS');
        await db()('remote_users').insert({ peer_id: peer.id, remote_username: user.username, user_id: user.id });
        expect((await jump({ wr: gone.wwwroot }, { cookie })).response.status).toBe(303);

        await softDeletePeer(s.db, peer.id);
        expect((await jump({ wr: gone.wwwroot }, { cookie })).response.status).toBe(403);
      } finally {
        await gone.stop();
      }
    });

    it('answers 400 for a link without a target or with two different ones', async () => {
      const { cookie } = await loggedIn();
      expect((await jump({ wantsurl: '/' }, { cookie })).response.status).toBe(400);
      expect((await jump({ wr: sp.wwwroot, hostwwwroot: sp2.wwwroot }, { cookie })).response.status).toBe(400);
    });

    it('refuses a user whose login is not allowed', async () => {
      const { user, cookie } = await loggedIn();
      await setLoginAllowed(db(), user.id, false);
      expect((await jump({ wr: sp.wwwroot }, { cookie })).response.status).toBe(403);
    });
  });

  describe('user_authorise (checklist 55, 56)', () => {
    it('succeeds once with the right UA hash and returns the user record', async () => {
      const { user, cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      const answer = await authorise(sp, token);
      expect(answer).toEqual({
        value: {
          username: user.username,
          email: user.email,
          auth: 'mnet',
          confirmed: 1,
          deleted: 0,
          firstname: 'Ada',
          lastname: 'Lovelace',
          city: '',
          country: '',
          lang: 'en',
          wwwroot,
          'session.gc_maxlifetime': String(running.services.config.sessionLifetimeSeconds),
          myhosts: [],
        },
      });
      expect(Object.keys((answer as { value: object }).value).some((k) => k.startsWith('_mnet_userpicture'))).toBe(false);
      // Consumed: a second call with the same token is "no such session".
      expect(faultCode(await authorise(sp, token))).toBe(1);
    });

    it('answers fault 2 after the confirm window', async () => {
      const { cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      clockOffsetMs = 31_000;
      try {
        const answer = await authorise(sp, token);
        expect(answer).toMatchObject({ fault: { code: 2, message: 'This session has timed out' } });
      } finally {
        clockOffsetMs = 0;
      }
    });

    it('answers fault 1 for another UA hash, and the token still works for the right browser', async () => {
      const { cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      expect(await authorise(sp, token, sha1('OtherBrowser/2.0'))).toMatchObject({ fault: { code: 1, message: 'No such session exists' } });
      expect(faultCode(await authorise(sp, token))).toBeUndefined();
    });

    it('answers fault 1 to a peer the token was not made for', async () => {
      const { cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      expect(faultCode(await authorise(sp2, token))).toBe(1);
      expect(faultCode(await authorise(sp, token))).toBeUndefined();
    });

    it('answers fault 1 for an unknown or malformed token', async () => {
      expect(faultCode(await authorise(sp, 'f'.repeat(40)))).toBe(1);
      expect(faultCode(await authorise(sp, 'not a token'))).toBe(1);
      expect(faultCode(await callUsAs(sp, MethodPath.userAuthorise, []))).toBe(1);
    });

    it('answers fault 1 when the user logged out here after the jump', async () => {
      const { cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      await db()('sessions').where({ token_sha256: crypto.createHash('sha256').update(cookie).digest('hex') }).delete();
      expect(faultCode(await authorise(sp, token))).toBe(1);
    });

    it('answers fault 3 when the user may no longer log in', async () => {
      const { user, cookie } = await loggedIn();
      const token = await jumpTo(sp, cookie);
      await setLoginAllowed(db(), user.id, false);
      expect(faultCode(await authorise(sp, token))).toBe(3);
    });

    it('refuses a user without an email address with a fault, and keeps the token', async () => {
      const { user, cookie } = await loggedIn({ email: '' });
      const token = await jumpTo(sp, cookie);
      const answer = await authorise(sp, token);
      expect(answer).toMatchObject({ fault: { code: 0 } });
      expect(await db()('sso_sessions').where({ user_id: user.id }).pluck('token')).toEqual([token]);
    });
  });

  describe('kill_children (checklist 57)', () => {
    it('from an SP the user jumped to: ends the user\'s sessions, forgets the jumps, tells the other SPs', async () => {
      const { user, cookie } = await loggedIn();
      const bystander = await loggedIn();
      await jumpTo(sp, bystander.cookie);
      await authorise(sp, await jumpTo(sp, cookie));
      await jumpTo(sp2, cookie);
      const spCalls = sp.calls.length;
      const sp2Calls = sp2.calls.length;

      expect(await callUsAs(sp, MethodPath.killChildren, [user.username.toUpperCase(), sha1(UA)])).toEqual({ value: true });
      expect(await isLive(cookie)).toBe(false);
      expect(await db()('sso_sessions').where({ user_id: user.id })).toEqual([]);
      expect(await isLive(bystander.cookie)).toBe(true);
      expect(sp2.calls.slice(sp2Calls)).toEqual([{ method: MethodPath.killChild, params: [user.username, sha1(UA)], encrypted: true }]);
      expect(sp.calls.length).toBe(spCalls);
    });

    it('still answers true when another SP cannot be told', async () => {
      const { user, cookie } = await loggedIn();
      await jumpTo(sp, cookie);
      await jumpTo(sp2, cookie);
      sp2.rawAnswer = () => ({ status: 500, body: 'down' });
      try {
        expect(await callUsAs(sp, MethodPath.killChildren, [user.username, sha1(UA)])).toEqual({ value: true });
      } finally {
        sp2.rawAnswer = undefined;
      }
      expect(await isLive(cookie)).toBe(false);
    });

    it('from a peer the user did not jump to: the refusal string, and nothing ends', async () => {
      const { user, cookie } = await loggedIn();
      await jumpTo(sp, cookie);
      const sp2Calls = sp2.calls.length;
      expect(await callUsAs(sp2, MethodPath.killChildren, [user.username, sha1(UA)])).toEqual({ value: KILL_CHILDREN_REFUSAL });
      expect(await callUsAs(closed, MethodPath.killChildren, [user.username, sha1(UA)])).toEqual({ value: KILL_CHILDREN_REFUSAL });
      expect(await callUsAs(sp, MethodPath.killChildren, ['nobody-here', sha1(UA)])).toEqual({ value: KILL_CHILDREN_REFUSAL });
      expect(await isLive(cookie)).toBe(true);
      expect(await db()('sso_sessions').where({ user_id: user.id })).toHaveLength(1);
      expect(sp2.calls.length).toBe(sp2Calls);
    });
  });

  describe('keep-alive and the no-op methods (checklist 58)', () => {
    it('update_enrolments returns true, fetch_user_image an empty array', async () => {
      const { user } = await loggedIn();
      expect(await callUsAs(sp, MethodPath.updateEnrolments, [user.username, { '2': { shortname: 'C1' } }])).toEqual({ value: true });
      expect(await callUsAs(sp, MethodPath.fetchUserImage, [user.username])).toEqual({ value: [] });
    });

    it('keepalive_server returns true and extends the sessions the users jumped to the caller from', async () => {
      const jumped = await loggedIn({ lifetimeSeconds: 300 });
      const elsewhere = await loggedIn({ lifetimeSeconds: 300 });
      await jumpTo(sp, jumped.cookie);
      await jumpTo(sp2, elsewhere.cookie);
      const before = (await findSession(db(), jumped.cookie, new Date()))!.expiresAt.getTime();

      expect(await callUsAs(sp, MethodPath.keepaliveServer, [[jumped.user.username.toUpperCase(), elsewhere.user.username, 'nobody']])).toEqual({
        value: true,
      });
      const after = (await findSession(db(), jumped.cookie, new Date()))!.expiresAt.getTime();
      const lifetimeMs = running.services.config.sessionLifetimeSeconds * 1000;
      expect(after).toBeGreaterThan(before);
      expect(Math.abs(after - (Date.now() + lifetimeMs))).toBeLessThan(10_000);
      // sp2 is where `elsewhere` went, so sp cannot keep that session alive.
      const untouched = (await findSession(db(), elsewhere.cookie, new Date()))!.expiresAt.getTime();
      expect(untouched).toBeLessThan(Date.now() + 301_000);

      expect(await callUsAs(sp, MethodPath.keepaliveServer, [[]])).toEqual({ value: true });
      expect(await callUsAs(sp, MethodPath.keepaliveServer, ['not an array'])).toEqual({ value: true });
    });

    it('lists sso_idp with its five methods to an SP', async () => {
      expect(await callUsAs(sp, MethodPath.listMethods, ['sso_idp'])).toEqual({
        value: [MethodPath.fetchUserImage, MethodPath.keepaliveServer, MethodPath.killChildren, MethodPath.updateEnrolments, MethodPath.userAuthorise],
      });
    });
  });
});
