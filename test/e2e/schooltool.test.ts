import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.js';
import { FaultCode } from '../../src/errors.js';
import { findOrCreateRemoteUser, findUserByIdnumber } from '../../src/identity/remote-users.js';
import { findUserById } from '../../src/identity/users.js';
import { parseCertificate } from '../../src/mnet/certificate.js';
import type { MethodResponse, XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { savePeer, type Peer } from '../../src/mnet/peers.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { FakePeer } from '../helpers/fake-peer.js';
import { callUsAs, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { pairPeers } from '../../src/identity/peer-settings.js';

/**
 * SchoolTool peers (mnet-protocol.md §10, checklist 65–66): our whole service on loopback; a FakePeer
 * registered as application `schooltool` calls fetch_user, new_section, new_enrolment, new_assessment and
 * new_grade over signed+encrypted MNet; a second FakePeer registered as `moodle` is refused them.
 */
const PREFIX = 'schooltool/mnet.php/';
const FETCH_USER = PREFIX + MethodPath.schooltoolFetchUser;
const NEW_SECTION = PREFIX + MethodPath.schooltoolNewSection;
const NEW_ENROLMENT = PREFIX + MethodPath.schooltoolNewEnrolment;
const NEW_ASSESSMENT = PREFIX + MethodPath.schooltoolNewAssessment;
const NEW_GRADE = PREFIX + MethodPath.schooltoolNewGrade;
const ST_TABLES = ['st_sections', 'st_enrolments', 'st_enrolment_events', 'st_assessments', 'st_grades'] as const;

/** The wiki's example userdata (§10), password hash and free-form members included. */
function userdata(username: string, idnumber: XmlRpcValue, extra: XmlRpcStruct = {}): XmlRpcStruct {
  return {
    username,
    firstname: 'Matt',
    lastname: 'Oquist',
    idnumber,
    email: `${username}@majen.net`,
    password_hash: '234lih23rlh2asldfjas',
    password_hash_algorithm: 'md5',
    ircnick: username,
    ...extra,
  };
}

describe.each(engines)('SchoolTool methods over MNet ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let wwwroot: string;
  let sis: FakePeer;
  let lms: FakePeer;
  let sisPeer: Peer;
  let lmsPeer: Peer;

  const db = () => running.services.db;

  async function register(fake: FakePeer, application: 'schooltool' | 'moodle'): Promise<Peer> {
    // Registered directly: FakePeer serves only Moodle's endpoint path, and keyswap is tested elsewhere.
    const cert = parseCertificate(fake.certificatePem);
    const peer = await savePeer(db(), { wwwroot: fake.wwwroot, name: application, application, publicKeyPem: fake.certificatePem, publicKeyExpires: cert.validTo }, new Date());
    fake.trusted.set(wwwroot, (await running.services.keys.current()).certificatePem);
    return peer;
  }

  beforeAll(async () => {
    service = await startServiceOn(engine.name);
    ({ running, wwwroot } = service);
    [sis, lms] = await Promise.all([FakePeer.start(), FakePeer.start()]);
    sisPeer = await register(sis, 'schooltool');
    lmsPeer = await register(lms, 'moodle');
    // The school's SchoolTool and its Moodle share idnumbers (§10): the admin pairs them.
    await pairPeers(db(), sisPeer, lmsPeer);
  });

  afterAll(async () => {
    await sis?.stop();
    await lms?.stop();
    await service?.stop();
  });

  /** Calls one of our methods as `from` does: signed with its key, encrypted to ours, over HTTP. */
  async function call(method: string, params: XmlRpcValue[], from: FakePeer = sis): Promise<MethodResponse> {
    const answer = await callUsAs(from, service, method, params);
    expect(answer.status).toBe(200);
    expect(answer.verified).toBe(true);
    return answer.response;
  }

  async function ok(method: string, struct: XmlRpcStruct): Promise<void> {
    expect(await call(method, [struct])).toEqual({ value: true });
  }

  /** Expects fault 0 whose message names `mentions` (the bad member or unknown idnumber). */
  async function refused(method: string, params: XmlRpcValue[], mentions: string): Promise<void> {
    const answer = await call(method, params);
    expect(answer).toMatchObject({ fault: { code: FaultCode.Application } });
    expect((answer as { fault: { message: string } }).fault.message).toContain(mentions);
  }

  const countRows = async (table: string, where: Record<string, unknown> = {}) => Number((await db()(table).where(where).count({ n: '*' }))[0]!.n);
  const countAll = async () => Object.fromEntries(await Promise.all([...ST_TABLES, 'users', 'remote_users'].map(async (t) => [t, await countRows(t)])));
  const userOf = async (idnumber: string) => (await findUserByIdnumber(db(), sisPeer, idnumber))!;
  const sectionRow = (idnumber: string) => db()('st_sections').where({ peer_id: sisPeer.id, idnumber }).first();
  const assessmentRow = (idnumber: string) => db()('st_assessments').where({ peer_id: sisPeer.id, idnumber }).first();

  it('lists the five methods under the prefix for a SchoolTool peer only', async () => {
    const paths = [FETCH_USER, NEW_ASSESSMENT, NEW_ENROLMENT, NEW_GRADE, NEW_SECTION];
    expect(await call(MethodPath.listMethods, ['schooltool'])).toEqual({ value: paths });
    expect(await call(MethodPath.listMethods, ['schooltool'], lms)).toEqual({ value: [] });
  });

  describe('fetch_user', () => {
    it('creates an account linked by idnumber that may not log in, and stores no password hash', async () => {
      await ok(FETCH_USER, userdata('moquist', 1234457));
      const user = await userOf('1234457'); // an int idnumber is stored as its string
      expect(user).toMatchObject({ username: 'moquist', firstName: 'Matt', lastName: 'Oquist', email: 'moquist@majen.net', studentId: '1234457', loginAllowed: false, createdByPeerId: sisPeer.id });
      const row = await db()('users').where({ id: user.id }).first();
      expect(JSON.stringify(row)).not.toContain('234lih23rlh2asldfjas');
    });

    it('updates on a repeated call (int or string idnumber alike), never duplicates', async () => {
      const before = await countAll();
      const { id } = await userOf('1234457');
      await ok(FETCH_USER, userdata('moquist', '1234457', { firstname: 'Matthew', email: 'matt@example.org' }));
      await ok(FETCH_USER, userdata('moquist', 1234457, { firstname: 'Matthew', email: 'matt@example.org' }));
      expect(await countAll()).toEqual(before);
      expect(await findUserById(db(), id)).toMatchObject({ firstName: 'Matthew', email: 'matt@example.org', loginAllowed: false });
    });

    it('lets the student log in only once an admin allows it, and a later fetch_user keeps that', async () => {
      const lines: string[] = [];
      expect(await runCommand(running.services, ['user', 'allow-login', 'moquist'], (l) => lines.push(l))).toBe(0);
      expect((await userOf('1234457')).loginAllowed).toBe(true);
      await ok(FETCH_USER, userdata('moquist', '1234457', { lastname: 'O.' }));
      expect(await userOf('1234457')).toMatchObject({ lastName: 'O.', loginAllowed: true });
    });

    it('refuses a missing username or idnumber with fault 0 naming the member, writing nothing', async () => {
      const before = await countAll();
      await refused(FETCH_USER, [userdata('', 'X-1')], '"username"');
      await refused(FETCH_USER, [{ username: 'nobody', firstname: 'N', lastname: 'O', email: '' }], '"idnumber"');
      await refused(FETCH_USER, [userdata('nobody', ['X-1'])], '"idnumber"');
      await refused(FETCH_USER, [], 'userdata');
      await refused(FETCH_USER, ['moquist'], 'userdata');
      expect(await countAll()).toEqual(before);
    });

    it('is one user with the Moodle SSO account of the same idnumber (cross-peer identity)', async () => {
      // As an SSO landing from the Moodle peer creates it (src/identity/sso-land.ts).
      const fromMoodle = await findOrCreateRemoteUser(db(), lmsPeer, { username: 'susie', firstname: 'Susie', lastname: 'Sunglasses', email: 'susie@ths.edu', idnumber: 'THS-0042' }, { create: true, updateProfile: true });
      expect(fromMoodle.created).toBe(true);
      const users = await countRows('users');
      await ok(FETCH_USER, userdata('ssunglasses', 'THS-0042', { firstname: 'Susie', lastname: 'Sunglasses', email: 'susie@ths.edu' }));
      expect(await countRows('users')).toBe(users);
      const viaSchoolTool = await userOf('THS-0042');
      expect(viaSchoolTool.id).toBe(fromMoodle.user.id);
      // An account that could already log in keeps that; only new imports start suspended.
      expect(viaSchoolTool).toMatchObject({ username: 'susie', loginAllowed: true });
    });
  });

  describe('new_section', () => {
    it('refuses an unknown teacher idnumber with fault 0 and writes nothing', async () => {
      const before = await countAll();
      await refused(NEW_SECTION, [{ name: 'Algebra 1', idnumber: 197423, teacheridnumber: 987234, segment: 1 }], '"987234"');
      expect(await countAll()).toEqual(before);
    });

    it('creates, then updates the section with the same idnumber (checklist 66)', async () => {
      await ok(FETCH_USER, userdata('msmith', 987234, { firstname: 'Mrs', lastname: 'Smith' }));
      await ok(NEW_SECTION, { name: 'Algebra 1 V1 Mrs. Smith', idnumber: 197423, teacheridnumber: 987234, segment: 1 });
      const teacher = await userOf('987234');
      expect(await sectionRow('197423')).toMatchObject({ name: 'Algebra 1 V1 Mrs. Smith', teacher_user_id: teacher.id, segment: 1 });
      await ok(NEW_SECTION, { name: 'Algebra 1 V1 Mrs. Smith: Cats and their Affectations', idnumber: '197423', teacheridnumber: '987234', segment: '2' });
      expect(await countRows('st_sections')).toBe(1);
      expect(await sectionRow('197423')).toMatchObject({ name: 'Algebra 1 V1 Mrs. Smith: Cats and their Affectations', segment: 2 });
    });

    it('refuses bad members by name', async () => {
      await refused(NEW_SECTION, [{ name: 'X', idnumber: '' }], '"idnumber"');
      await refused(NEW_SECTION, [{ idnumber: 'S-9' }], '"name"');
      await refused(NEW_SECTION, [{ name: 'X', idnumber: 'S-9', segment: 'fall' }], '"segment"');
    });
  });

  describe('new_enrolment', () => {
    const enrolmentOf = async (idnumber: string) =>
      db()('st_enrolments').where({ section_id: (await sectionRow('197423')).id, user_id: (await userOf(idnumber)).id }).first();
    const eventsOf = async (enrolmentId: number) => db()('st_enrolment_events').where({ enrolment_id: enrolmentId }).orderBy('id').select('role', 'status');

    it('refuses a role other than student or teacher (checklist 66)', async () => {
      const before = await countAll();
      await refused(NEW_ENROLMENT, [{ sectionid: 197423, userid: 1234457, role: 'editingteacher' }], '"role"');
      await refused(NEW_ENROLMENT, [{ sectionid: 197423, userid: 1234457 }], '"role"');
      expect(await countAll()).toEqual(before);
    });

    it('refuses an unknown section or user idnumber with fault 0 and writes nothing', async () => {
      const before = await countAll();
      await refused(NEW_ENROLMENT, [{ sectionid: 'nope', userid: 1234457, role: 'student' }], '"nope"');
      await refused(NEW_ENROLMENT, [{ sectionid: 197423, userid: 'ghost', role: 'student' }], '"ghost"');
      expect(await countAll()).toEqual(before);
    });

    it('enrols; a repeated call is a no-op; a new role or status updates and is recorded in the history', async () => {
      await ok(NEW_ENROLMENT, { sectionid: 197423, userid: 1234457, role: 'student' });
      await ok(NEW_ENROLMENT, { sectionid: '197423', userid: '1234457', role: 'student' });
      const enrolment = await enrolmentOf('1234457');
      expect(enrolment).toMatchObject({ role: 'student', status: 'active' });
      expect(await eventsOf(enrolment.id)).toEqual([{ role: 'student', status: 'active' }]);

      await ok(NEW_ENROLMENT, { sectionid: 197423, userid: 1234457, role: 'teacher' });
      await ok(NEW_ENROLMENT, { sectionid: 197423, userid: 1234457, role: 'teacher', status: 'withdrawn' });
      await ok(NEW_ENROLMENT, { sectionid: 197423, userid: 1234457, role: 'teacher', status: 'withdrawn' });
      expect(await countRows('st_enrolments')).toBe(1);
      expect(await enrolmentOf('1234457')).toMatchObject({ id: enrolment.id, role: 'teacher', status: 'withdrawn' });
      expect(await eventsOf(enrolment.id)).toEqual([
        { role: 'student', status: 'active' },
        { role: 'teacher', status: 'active' },
        { role: 'teacher', status: 'withdrawn' },
      ]);
    });

    it('enrols the cross-peer user by the shared idnumber', async () => {
      await ok(NEW_ENROLMENT, { sectionid: 197423, userid: 'THS-0042', role: 'student' });
      expect((await enrolmentOf('THS-0042')).user_id).toBe((await userOf('THS-0042')).id);
    });
  });

  describe('new_assessment', () => {
    it('refuses an unknown section idnumber with fault 0 and writes nothing', async () => {
      const before = await countAll();
      await refused(NEW_ASSESSMENT, [{ sectionid: 555, name: 'Quiz', idnumber: 73743734, pointval: 68 }], '"555"');
      expect(await countAll()).toEqual(before);
    });

    it('creates with loosely typed flags and points, then updates the same idnumber (checklist 66)', async () => {
      await ok(NEW_ASSESSMENT, {
        sectionid: 197423,
        name: 'How to grill a logarithmic sandwich',
        idnumber: 73743734,
        chapternum: 3,
        honors_required: false,
        nonhonors_required: '1',
        extra_credit: 'false',
        pointval: 68,
      });
      const row = await assessmentRow('73743734');
      expect(row).toMatchObject({ section_id: (await sectionRow('197423')).id, chapternum: 3, honors_required: false, nonhonors_required: true, extra_credit: false });
      expect(Number(row.pointval)).toBe(68);
      await ok(NEW_ASSESSMENT, { sectionid: '197423', name: 'Grilled logarithms', idnumber: '73743734', chapternum: '4', honors_required: 1, pointval: '70.5' });
      expect(await countRows('st_assessments')).toBe(1);
      const updated = await assessmentRow('73743734');
      expect(updated).toMatchObject({ id: row.id, name: 'Grilled logarithms', chapternum: 4, honors_required: true, nonhonors_required: false });
      expect(Number(updated.pointval)).toBe(70.5);
    });

    it('refuses a flag or number that is not one', async () => {
      await refused(NEW_ASSESSMENT, [{ sectionid: 197423, name: 'Q', idnumber: 'A-2', extra_credit: 'maybe' }], '"extra_credit"');
      await refused(NEW_ASSESSMENT, [{ sectionid: 197423, name: 'Q', idnumber: 'A-2', pointval: 'lots' }], '"pointval"');
    });
  });

  describe('new_grade', () => {
    const gradesOf = async (idnumber: string) =>
      db()('st_grades').where({ user_id: (await userOf(idnumber)).id }).orderBy('attempt_num').select('attempt_num', 'points_earned', 'excepted');
    const plain = (rows: Array<{ attempt_num: number; points_earned: unknown; excepted: boolean }>) =>
      rows.map((r) => ({ ...r, points_earned: r.points_earned === null ? null : Number(r.points_earned) }));

    it('refuses an unknown assessment or user idnumber with fault 0 and writes nothing', async () => {
      const before = await countAll();
      await refused(NEW_GRADE, [{ assessmentid: 1, userid: 1234457, points_earned: 62 }], '"1"');
      await refused(NEW_GRADE, [{ assessmentid: 73743734, userid: 'ghost', points_earned: 62 }], '"ghost"');
      await refused(NEW_GRADE, [{ assessmentid: 73743734, userid: 1234457 }], '"points_earned"');
      expect(await countAll()).toEqual(before);
    });

    it('records a grade per attempt; a repeated attempt replaces its grade (checklist 66)', async () => {
      await ok(NEW_GRADE, { assessmentid: 73743734, userid: 1234457, points_earned: 62, excepted: false, attempt_num: 1 });
      await ok(NEW_GRADE, { assessmentid: '73743734', userid: '1234457', points_earned: '64.5', excepted: '0' });
      await ok(NEW_GRADE, { assessmentid: 73743734, userid: 1234457, points_earned: 66, attempt_num: 2 });
      expect(plain(await gradesOf('1234457'))).toEqual([
        { attempt_num: 1, points_earned: 64.5, excepted: false },
        { attempt_num: 2, points_earned: 66, excepted: false },
      ]);
    });

    it('accepts an excepted grade without points', async () => {
      await ok(NEW_GRADE, { assessmentid: 73743734, userid: 'THS-0042', excepted: true });
      expect(plain(await gradesOf('THS-0042'))).toEqual([{ attempt_num: 1, points_earned: null, excepted: true }]);
    });
  });

  it('answers 6011 to a Moodle peer, which the service is not published to, and writes nothing', async () => {
    const before = await countAll();
    for (const [method, struct] of [
      [FETCH_USER, userdata('intruder', 'M-1')],
      [NEW_SECTION, { name: 'X', idnumber: 'M-S' }],
      [NEW_GRADE, { assessmentid: 73743734, userid: 1234457, points_earned: 0 }],
    ] as const) {
      expect(await call(method, [struct], lms)).toMatchObject({ fault: { code: FaultCode.NoSuchMethod } });
    }
    expect(await countAll()).toEqual(before);
  });
});
