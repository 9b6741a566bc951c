import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordLink, ensureAdmin } from '../../src/identity/local-login.js';
import { setLoginAllowed } from '../../src/identity/users.js';
import { createLogger } from '../../src/log.js';
import { engines } from '../helpers/db.js';
import { startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/** Local login, sessions, CSRF and password links over real HTTP (issue 5). */
describe.each(engines)('web login ($name)', (engine) => {
  let service: ServiceUnderTest;
  const logLines: string[] = [];
  const db = () => service.running.services.db;
  const now = () => service.running.services.now();

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' }, log: createLogger('warn', (line) => logLines.push(line)) });
    await createLocalUser(db(), { username: 'ann', password: 'ann-password-1' });
    await createLocalUser(db(), { username: 'root', password: 'root-password-1', admin: true });
  });

  afterAll(async () => {
    await service?.stop();
  });

  const client = () => new WebClient(service.wwwroot);

  it('says at start, when there is no admin yet, how to make one', () => {
    expect(logLines.join('')).toContain('no admin yet: run `npm run cli -- admin create <username>`');
  });

  it('sends an anonymous visitor to the login page with the page they wanted, and back there after login', async () => {
    const web = client();
    const first = await web.get('/admin/');
    expect(first.status).toBe(303);
    expect(first.location).toBe('/login?wantsurl=%2Fadmin%2F');
    const form = await web.get('/login?wantsurl=%2Fadmin%2F');
    expect(form.status).toBe(200);
    expect(form.body).toContain('name="wantsurl" value="/admin/"');
    const login = await web.post('/login', { username: 'ROOT', password: 'root-password-1', wantsurl: '/admin/' });
    expect(login.status).toBe(303);
    expect(login.location).toBe(`${service.wwwroot}/admin/`);
    expect(web.cookies.get('pis_session')).toMatch(/^[0-9a-f]{64}$/);
    expect((await web.get('/admin/')).status).toBe(200);
  });

  it('never redirects off-site after login', async () => {
    const web = client();
    await web.get('/login');
    const login = await web.post('/login', { username: 'ann', password: 'ann-password-1', wantsurl: '//evil.example/x' });
    expect(login.location).toBe(`${service.wwwroot}/`);
  });

  it('refuses a wrong password without saying whether the name exists, and gives no session', async () => {
    const web = client();
    await web.get('/login');
    const wrong = await web.post('/login', { username: 'ann', password: 'nope-nope-nope' });
    const unknown = await web.post('/login', { username: 'nobody', password: 'nope-nope-nope' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(visibleText(wrong.body)).toContain('Wrong username or password.');
    expect(visibleText(unknown.body)).toContain('Wrong username or password.');
    expect(wrong.body).toContain('value="ann"');
    expect(web.cookies.has('pis_session')).toBe(false);
  });

  it('locks an account for 15 minutes after five wrong passwords, even against the right one', async () => {
    await createLocalUser(db(), { username: 'bea', password: 'bea-password-1' });
    const web = client();
    await web.get('/login');
    for (let i = 0; i < 5; i++) expect((await web.post('/login', { username: 'bea', password: `wrong-${i}-xxxxx` })).status).toBe(401);
    const locked = await web.post('/login', { username: 'bea', password: 'bea-password-1' });
    expect(locked.status).toBe(401);
    expect(visibleText(locked.body)).toContain('Too many failed logins');
    const row = await db()('users').where({ username: 'bea' }).first();
    expect(new Date(row.locked_until).getTime()).toBeGreaterThan(now().getTime() + 14 * 60_000);
  });

  it('refuses a form post without the CSRF token, with a foreign token, or from another origin', async () => {
    const web = client();
    await web.login('ann', 'ann-password-1');
    await web.get('/');
    expect((await web.post('/logout', { _csrf: '' })).status).toBe(403);
    expect((await web.post('/logout', { _csrf: 'f'.repeat(64) })).status).toBe(403);
    const foreign = await web.post('/logout', {}, { Origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(visibleText(foreign.body)).toContain('This form was sent from another site.');
    // Still logged in: none of those posts did anything.
    expect((await web.get('/')).status).toBe(200);
  });

  it('refuses the login form itself without its token (login CSRF)', async () => {
    const web = client();
    const answer = await web.post('/login', { username: 'ann', password: 'ann-password-1' });
    expect(answer.status).toBe(403);
    expect(web.cookies.has('pis_session')).toBe(false);
  });

  it('logs out: the old session cookie no longer opens any page', async () => {
    const web = client();
    await web.login('ann', 'ann-password-1');
    await web.get('/');
    const old = web.cookies.get('pis_session')!;
    const out = await web.post('/logout');
    expect(out.status).toBe(303);
    expect(out.location).toBe('/login');
    expect(web.cookies.has('pis_session')).toBe(false);
    const replay = new WebClient(service.wwwroot);
    replay.cookies.set('pis_session', old);
    expect((await replay.get('/')).status).toBe(303);
  });

  it('gives a student 403 on admin pages', async () => {
    const web = client();
    await web.login('ann', 'ann-password-1');
    const answer = await web.get('/admin/');
    expect(answer.status).toBe(403);
    expect(visibleText(answer.body)).toContain('This page is for administrators.');
  });

  it('stops a suspended user at once, session or not', async () => {
    const carl = await createLocalUser(db(), { username: 'carl', password: 'carl-password-1' });
    const web = client();
    await web.login('carl', 'carl-password-1');
    await setLoginAllowed(db(), carl.id, false);
    expect((await web.get('/')).status).toBe(303);
    await web.get('/login');
    const again = await web.post('/login', { username: 'carl', password: 'carl-password-1' });
    expect(again.status).toBe(401);
    expect(visibleText(again.body)).toContain('suspended');
  });

  it('sets a password through an admin-create link once, logs in, and the link is then dead', async () => {
    const { user } = await ensureAdmin(db(), 'dora', now());
    const token = await createPasswordLink(db(), user.id, now());
    const web = client();
    const page = await web.get(`/password/${token}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
    expect((await web.post(`/password/${token}`, { password: 'dora-password-1', confirm: 'dora-password-2' })).status).toBe(400);
    expect((await web.post(`/password/${token}`, { password: 'short', confirm: 'short' })).status).toBe(400);
    const set = await web.post(`/password/${token}`, { password: 'dora-password-1', confirm: 'dora-password-1' });
    expect(set.status).toBe(303);
    expect(set.location).toBe('/admin/');
    expect((await web.get('/admin/')).status).toBe(200);
    expect((await client().get(`/password/${token}`)).status).toBe(404);
    const other = client();
    await other.login('dora', 'dora-password-1');
  });

  it('escapes the username it shows back', async () => {
    const web = client();
    await web.get('/login');
    const answer = await web.post('/login', { username: '<script>alert(1)</script>', password: 'x'.repeat(12) });
    expect(answer.body).not.toContain('<script>alert(1)</script>');
    expect(answer.body).toContain('&#60;script&#62;');
  });

  it('serves pages with a CSP that forbids scripts, and the stylesheet', async () => {
    const page = await client().get('/login');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).not.toContain('script-src');
    const css = await client().get('/static/site.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
  });
});
