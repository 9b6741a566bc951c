import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../src/errors.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { createUser, findUserById, withdrawAdmin, type User } from '../../src/identity/users.js';
import { silentLogger } from '../../src/log.js';
import { parseCertificate } from '../../src/mnet/certificate.js';
import type { XmlRpcStruct } from '../../src/mnet/codec.js';
import { savePeer, type ApplicationName, type Peer } from '../../src/mnet/peers.js';
import { fetchUser, newAssessment, newEnrolment, newGrade, newSection } from '../../src/schooltool/handlers.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { MOODLE_CERT } from '../helpers/fixtures.js';
import { startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/**
 * The admin's user pages over real HTTP: the list (search, paging), a user's page (identities, quota,
 * SchoolTool data seeded through the real SchoolTool handlers) and its actions (suspend, admin, password link).
 */
describe.each(engines)('admin user pages ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let root: User;
  let student: User;
  let admin: WebClient;
  let moodle: Peer;
  let schooltool: Peer;

  const db = () => running.services.db;
  const client = () => new WebClient(service.wwwroot);
  const sessionsOf = async (userId: number) => Number((await db()('sessions').where({ user_id: userId }).count({ n: '*' }))[0]!.n);

  async function loggedIn(username: string, password: string): Promise<WebClient> {
    const c = client();
    await c.login(username, password);
    return c;
  }

  async function registerPeer(wwwroot: string, name: string, application: ApplicationName): Promise<Peer> {
    return savePeer(db(), { wwwroot, name, application, publicKeyPem: MOODLE_CERT, publicKeyExpires: parseCertificate(MOODLE_CERT).validTo }, new Date());
  }

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    running = service.running;
    root = await createLocalUser(db(), { username: 'root', password: 'root password 1', admin: true, firstName: 'Rita', lastName: 'Root' });
    student = await createLocalUser(db(), { username: 'pupil', password: 'pupil password 1' });
    admin = await loggedIn('root', 'root password 1');
    moodle = await registerPeer('http://moodle.test', 'Riverside Moodle', 'moodle');
    schooltool = await registerPeer('http://schooltool.test', 'Riverside SchoolTool', 'schooltool');
  });

  afterAll(async () => {
    await service?.stop();
  });

  describe('refusals', () => {
    it('sends anonymous visitors to the login page and refuses their posts', async () => {
      for (const path of ['/admin/users/', `/admin/users/${student.id}`]) {
        const answer = await client().get(path);
        expect(answer.status).toBe(303);
        expect(answer.location).toContain('/login?wantsurl=');
      }
      expect((await client().post(`/admin/users/${student.id}/suspend`)).status).toBe(403);
    });

    it('refuses a student with 403, on pages and actions', async () => {
      const pupil = await loggedIn('pupil', 'pupil password 1');
      expect((await pupil.get('/admin/users/')).status).toBe(403);
      expect((await pupil.get(`/admin/users/${root.id}`)).status).toBe(403);
      expect((await pupil.post(`/admin/users/${student.id}/make-admin`)).status).toBe(403);
      expect((await findUserById(db(), student.id))!.isAdmin).toBe(false);
    });

    it('refuses a post without the CSRF token, changing nothing', async () => {
      await admin.get(`/admin/users/${student.id}`);
      for (const csrf of ['', 'f'.repeat(64)]) {
        const answer = await admin.post(`/admin/users/${student.id}/suspend`, { _csrf: csrf });
        expect(answer.status).toBe(403);
      }
      expect((await findUserById(db(), student.id))!.loginAllowed).toBe(true);
    });

    it('answers 404 for an unknown or malformed user id', async () => {
      for (const id of ['999999', 'abc', '1.0', '-1', '0', '99999999999', '2147483648']) {
        expect((await admin.get(`/admin/users/${id}`)).status, id).toBe(404);
      }
      await admin.get('/admin/users/');
      expect((await admin.post('/admin/users/999999/suspend')).status).toBe(404);
    });
  });

  describe('the list', () => {
    beforeAll(async () => {
      // 60 more users: two pages of 50.
      for (let i = 0; i < 60; i++) {
        const n = String(i).padStart(2, '0');
        const user = await createUser(db(), { username: `learner${n}`, firstName: i === 7 ? 'Zoë' : 'Lee', lastName: `Number${n}`, email: `l${n}@school.test`, studentId: `SID-${n}` });
        if (i === 3) await db()('users').where({ id: user.id }).update({ login_allowed: false });
      }
    });

    it('shows every column and links each username to its page', async () => {
      const answer = await admin.get('/admin/users/');
      expect(answer.status).toBe(200);
      const text = visibleText(answer.body);
      expect(text).toContain('Username Full name Email Student id Origin Login Admin');
      expect(text).toContain('learner03 Lee Number03 l03@school.test SID-03 local Suspended No');
      const learner01 = await db()('users').where({ username: 'learner01' }).first();
      expect(answer.body).toContain(`<a href="/admin/users/${learner01.id}">learner01</a>`);
      const rootRow = await admin.get('/admin/users/?q=rita');
      expect(visibleText(rootRow.body)).toContain('root Rita Root local Allowed Yes');
      expect(rootRow.body).toContain(`<a href="/admin/users/${root.id}">root</a>`);
    });

    it('pages by 50 with Next and Previous links', async () => {
      const first = await admin.get('/admin/users/');
      const total = Number((await db()('users').count({ n: '*' }))[0]!.n);
      expect(first.body.match(/<tr>\s*<td><a href="\/admin\/users\/\d+">/g)).toHaveLength(50);
      expect(visibleText(first.body)).toContain(`${total} users`);
      expect(first.body).toContain('href="/admin/users/?page=2"');
      expect(first.body).not.toContain('rel="prev"');
      const second = await admin.get('/admin/users/?page=2');
      expect(second.body.match(/<tr>\s*<td><a href="\/admin\/users\/\d+">/g)).toHaveLength(total - 50);
      expect(second.body).toMatch(/<a href="\/admin\/users\/"[^>]*>Previous<\/a>/);
      expect(second.body).not.toContain('>Next<');
      expect(visibleText(second.body)).toContain('Page 2 of 2');
      // Ordered by username: the first page ends where the second begins.
      expect(visibleText(first.body)).toContain('learner00');
      expect(visibleText(second.body)).not.toContain('learner00');
    });

    it('searches username, name, full name, email and student id, case-insensitively', async () => {
      const found = async (q: string) => {
        const answer = await admin.get(`/admin/users/?q=${encodeURIComponent(q)}`);
        expect(answer.status).toBe(200);
        return [...answer.body.matchAll(/<td><a href="\/admin\/users\/\d+">([^<]+)<\/a>/g)].map((m) => m[1]);
      };
      expect(await found('LEARNER07')).toEqual(['learner07']);
      expect(await found('zoË')).toEqual(['learner07']);
      expect(await found('number59')).toEqual(['learner59']);
      expect(await found('Lee Number12')).toEqual(['learner12']);
      expect(await found('L44@SCHOOL')).toEqual(['learner44']);
      expect(await found('sid-05')).toEqual(['learner05']);
      expect(await found('learner1')).toHaveLength(10);
      // Wildcards are literal characters, not patterns.
      expect(await found('%')).toEqual([]);
      expect(await found('learner_1')).toEqual([]);
      const none = await admin.get('/admin/users/?q=nobody-at-all');
      expect(visibleText(none.body)).toContain('No user matches this search.');
    });

    it('keeps the search in the paging links', async () => {
      const answer = await admin.get('/admin/users/?q=school.test');
      expect(visibleText(answer.body)).toContain('60 users found');
      expect(answer.body).toContain('href="/admin/users/?q=school.test&#38;page=2"');
      expect(answer.body).toContain('value="school.test"');
    });
  });

  describe('a user\'s page', () => {
    it('shows the profile, origin, quota and remote identities', async () => {
      const { user } = await findOrCreateRemoteUser(db(), moodle, { username: 'Amelia.H', firstname: 'Amelia', lastname: 'Hart', email: 'amelia@school.test', idnumber: 'ID-77' }, { create: true, updateProfile: false });
      await db()('users').where({ id: user.id }).update({ quota_used: 13_107_200 });
      const answer = await admin.get(`/admin/users/${user.id}`);
      expect(answer.status).toBe(200);
      const text = visibleText(answer.body);
      expect(text).toContain('User amelia.h');
      expect(text).toContain('Full name Amelia Hart');
      expect(text).toContain('Email amelia@school.test');
      expect(text).toContain('Student id ID-77');
      expect(text).toContain('Origin Riverside Moodle (http://moodle.test)');
      expect(text).toContain('File quota 12.5 MB of 50 MB used (25%)');
      expect(text).toContain('Login Allowed');
      expect(text).toContain('Administrator No');
      expect(text).toContain('Local password No');
      expect(text).toContain('Peer Peer address (wwwroot) Remote username Idnumber');
      expect(text).toContain('Riverside Moodle http://moodle.test Amelia.H ID-77');
      for (const label of ['Suspend login', 'Make admin', 'Create password link']) expect(answer.body).toContain(`>${label}</button>`);
    });

    it('says when a local user has no remote identities and no SchoolTool data', async () => {
      const text = visibleText((await admin.get(`/admin/users/${student.id}`)).body);
      expect(text).toContain('No remote identities');
      expect(text).toContain('This user is in no SchoolTool section.');
      expect(text).toContain('SchoolTool has sent no enrolments for this user.');
      expect(text).toContain('SchoolTool has sent no grades for this user.');
      expect(text).toContain('Local password Yes');
    });

    it('shows the sections, enrolments and grades SchoolTool sent, as stored', async () => {
      const ctx = (at: string) => ({ peer: schooltool, db: db(), now: new Date(at), log: silentLogger });
      const call = (handler: typeof fetchUser, struct: XmlRpcStruct, at = '2025-09-01T08:00:00Z') => handler([struct], ctx(at));
      await call(fetchUser, { username: 'sam', firstname: 'Sam', lastname: 'Student', email: 'sam@school.test', idnumber: 'S-100' });
      await call(fetchUser, { username: 'tina', firstname: 'Tina', lastname: 'Teacher', email: 'tina@school.test', idnumber: 'T-200' });
      await call(newSection, { idnumber: 'SEC-ALG', name: 'Algebra <I>', teacheridnumber: 'T-200', segment: 2 });
      await call(newSection, { idnumber: 'SEC-BIO', name: 'Biology', segment: 1 });
      await call(newEnrolment, { sectionid: 'SEC-ALG', userid: 'S-100', role: 'student' });
      await call(newEnrolment, { sectionid: 'SEC-BIO', userid: 'S-100', role: 'student' }, '2025-09-02T09:30:00Z');
      await call(newEnrolment, { sectionid: 'SEC-BIO', userid: 'S-100', role: 'student', status: 'withdrawn' }, '2025-10-15T12:00:00Z');
      await call(newAssessment, { sectionid: 'SEC-ALG', idnumber: 'A-QUIZ1', name: 'Quiz 1', chapternum: 3, pointval: '20', extra_credit: false });
      await call(newGrade, { assessmentid: 'A-QUIZ1', userid: 'S-100', points_earned: '17.50' }, '2025-09-20T10:00:00Z');
      await call(newGrade, { assessmentid: 'A-QUIZ1', userid: 'S-100', points_earned: 19, attempt_num: 2 }, '2025-09-27T10:00:00Z');
      const sam = await db()('users').where({ username: 'sam' }).first();
      const tina = await db()('users').where({ username: 'tina' }).first();

      const text = visibleText((await admin.get(`/admin/users/${sam.id}`)).body);
      expect(text).toContain('Riverside SchoolTool http://schooltool.test sam S-100');
      expect(text).toContain('Section Section id Term Teacher This user SchoolTool site');
      expect(text).toContain('Biology SEC-BIO 1 none Enrolled Riverside SchoolTool (http://schooltool.test)');
      expect(text).toContain('Algebra <I> SEC-ALG 2 Tina Teacher Enrolled Riverside SchoolTool (http://schooltool.test)');
      expect(text).toContain('Section Section id Role Status Enrolled Last changed History');
      expect(text).toContain('Algebra <I> SEC-ALG student active 2025-09-01 08:00:00 UTC 2025-09-01 08:00:00 UTC unchanged');
      expect(text).toContain(
        'Biology SEC-BIO student withdrawn 2025-09-02 09:30:00 UTC 2025-10-15 12:00:00 UTC student, active from 2025-09-02 09:30:00 UTC student, withdrawn from 2025-10-15 12:00:00 UTC',
      );
      expect(text).toContain('Section Assessment Assessment id Chapter Points earned Out of Excepted Attempt Graded');
      expect(text).toContain('Algebra <I> (SEC-ALG) Quiz 1 A-QUIZ1 3 17.50 20 No 1 2025-09-20 10:00:00 UTC');
      expect(text).toContain('Algebra <I> (SEC-ALG) Quiz 1 A-QUIZ1 3 19 20 No 2 2025-09-27 10:00:00 UTC');

      const teacherPage = await admin.get(`/admin/users/${tina.id}`);
      expect(visibleText(teacherPage.body)).toContain('Algebra <I> SEC-ALG 2 Tina Teacher Teacher of the section');
      expect(teacherPage.body).toContain('Algebra &#60;I&#62;');
    });

    it('escapes names, emails and search text', async () => {
      const evil = await createUser(db(), { username: 'mallory', firstName: '<script>alert(1)</script>', lastName: '"><img src=x onerror=alert(2)>', email: '<b>m</b>@x.test' });
      for (const path of [`/admin/users/${evil.id}`, '/admin/users/?q=mallory', `/admin/users/?q=${encodeURIComponent('<script>x</script>')}`]) {
        const body = (await admin.get(path)).body;
        expect(body).not.toContain('<script>');
        expect(body).not.toContain('<img');
        expect(body).not.toContain('<b>m');
      }
      expect((await admin.get(`/admin/users/${evil.id}`)).body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    });
  });

  describe('actions', () => {
    it('suspending ends the user\'s sessions at once; allowing lets them log in again', async () => {
      await createLocalUser(db(), { username: 'deputy', password: 'deputy password 1', admin: true });
      const deputyUser = (await db()('users').where({ username: 'deputy' }).first()) as { id: number };
      const deputy = await loggedIn('deputy', 'deputy password 1');
      expect((await deputy.get('/admin/')).status).toBe(200);
      expect(await sessionsOf(deputyUser.id)).toBe(1);

      await admin.get(`/admin/users/${deputyUser.id}`);
      const suspended = await admin.post(`/admin/users/${deputyUser.id}/suspend`);
      expect(suspended.status).toBe(303);
      expect(suspended.location).toBe(`/admin/users/${deputyUser.id}`);
      expect(await findUserById(db(), deputyUser.id)).toMatchObject({ loginAllowed: false });
      expect(await sessionsOf(deputyUser.id)).toBe(0);
      const page = await admin.get(suspended.location!);
      expect(visibleText(page.body)).toContain('deputy can no longer log in and was logged out (1 session ended).');
      expect(visibleText(page.body)).toContain('Login Suspended');
      expect(page.body).toContain('>Allow login</button>');

      const next = await deputy.get('/admin/');
      expect(next.status).toBe(303);
      expect(next.location).toContain('/login');
      await deputy.get('/login');
      expect((await deputy.post('/login', { username: 'deputy', password: 'deputy password 1' })).status).toBe(401);

      expect((await admin.post(`/admin/users/${deputyUser.id}/allow-login`)).status).toBe(303);
      expect(await findUserById(db(), deputyUser.id)).toMatchObject({ loginAllowed: true });
      expect(visibleText((await admin.get(`/admin/users/${deputyUser.id}`)).body)).toContain('deputy can log in again.');
      const again = await loggedIn('deputy', 'deputy password 1');
      expect((await again.get('/admin/')).status).toBe(200);
    });

    it('refuses to suspend the admin asking', async () => {
      await admin.get(`/admin/users/${root.id}`);
      const answer = await admin.post(`/admin/users/${root.id}/suspend`);
      expect(answer.status).toBe(400);
      expect(visibleText(answer.body)).toContain('You cannot suspend your own login');
      expect(await findUserById(db(), root.id)).toMatchObject({ loginAllowed: true });
      expect(await sessionsOf(root.id)).toBeGreaterThan(0);
    });

    it('makes and removes admins, but never the admin asking', async () => {
      const pupil = await loggedIn('pupil', 'pupil password 1');
      await admin.get(`/admin/users/${student.id}`);
      expect((await admin.post(`/admin/users/${student.id}/make-admin`)).status).toBe(303);
      expect(await findUserById(db(), student.id)).toMatchObject({ isAdmin: true });
      expect((await pupil.get('/admin/users/')).status).toBe(200);
      const page = await admin.get(`/admin/users/${student.id}`);
      expect(visibleText(page.body)).toContain('pupil is now an administrator.');
      expect(page.body).toContain('>Remove admin</button>');

      expect((await admin.post(`/admin/users/${student.id}/remove-admin`)).status).toBe(303);
      expect(await findUserById(db(), student.id)).toMatchObject({ isAdmin: false });
      expect((await pupil.get('/admin/users/')).status).toBe(403);

      await admin.get(`/admin/users/${root.id}`);
      const own = await admin.post(`/admin/users/${root.id}/remove-admin`);
      expect(own.status).toBe(400);
      expect(visibleText(own.body)).toContain('You cannot remove your own admin rights');
      expect(await findUserById(db(), root.id)).toMatchObject({ isAdmin: true });
    });

    it('never removes the last admin, even when two admins remove each other at once', async () => {
      const other = await createLocalUser(db(), { username: 'other-admin', password: 'other password 1', admin: true });
      const otherClient = await loggedIn('other-admin', 'other password 1');
      const admins = async () => (await db()('users').where({ is_admin: true }).select('id')).map((r: { id: number }) => r.id);
      // Everyone else stops being an admin first, so root and other-admin are the only two.
      await db()('users').whereNotIn('id', [root.id, other.id]).update({ is_admin: false });
      await Promise.all([admin.get(`/admin/users/${other.id}`), otherClient.get(`/admin/users/${root.id}`)]);
      const answers = await Promise.all([admin.post(`/admin/users/${other.id}/remove-admin`), otherClient.post(`/admin/users/${root.id}/remove-admin`)]);
      const statuses = answers.map((a) => a.status).sort();
      // One wins (303); the other is refused: as the last admin (400) or, if it came later, as no longer an admin (403).
      expect(statuses[0]).toBe(303);
      expect([400, 403]).toContain(statuses[1]);
      expect(await admins()).toHaveLength(1);

      // The rule itself, whoever asks.
      const [last] = await admins();
      await expect(withdrawAdmin(db(), last!, last === root.id ? other.id : root.id)).rejects.toMatchObject({ code: FaultCode.InvalidInput });
      // Back to root as admin for the tests that follow.
      await db()('users').where({ id: root.id }).update({ is_admin: true });
    });

    it('creates a password link that is shown once and works once', async () => {
      const learner = await createUser(db(), { username: 'newcomer' });
      await admin.get(`/admin/users/${learner.id}`);
      const answer = await admin.post(`/admin/users/${learner.id}/password-link`);
      expect(answer.status).toBe(200);
      expect(visibleText(answer.body)).toContain('Password link for newcomer');
      const link = new RegExp(`${service.wwwroot}/password/([0-9a-f]{64})`).exec(answer.body);
      expect(link).not.toBeNull();
      const token = link![1]!;
      // Only the hash is stored.
      expect(JSON.stringify(await db()('password_links').where({ user_id: learner.id }))).not.toContain(token);

      const browser = client();
      expect((await browser.get(`/password/${token}`)).status).toBe(200);
      const set = await browser.post(`/password/${token}`, { password: 'a new password 1', confirm: 'a new password 1' });
      expect(set.status).toBe(303);
      expect((await browser.get(`/password/${token}`)).status).toBe(404);
      await loggedIn('newcomer', 'a new password 1');
      expect(visibleText((await admin.get(`/admin/users/${learner.id}`)).body)).toContain('Local password Yes');
    });
  });
});
