import { findOrCreateRemoteUser, findUserByIdnumber } from '../identity/remote-users.js';
import type { XmlRpcValue } from '../mnet/codec.js';
import type { CallContext } from '../mnet/methods.js';
import { findAssessmentId, upsertAssessment } from './assessments.js';
import { enrolmentRoles, enrolmentStatuses, upsertEnrolment } from './enrolments.js';
import { upsertGrade } from './grades.js';
import { readChoice, readFlag, readIdnumber, readPoints, readStruct, readText, readWholeNumber, unknownIdnumber } from './members.js';
import { findSectionId, upsertSection } from './sections.js';

/**
 * The five methods a SchoolTool-style peer calls on us (mnet-protocol.md §10). Each reads and checks its
 * whole struct first, then resolves idnumbers and writes in one transaction, so a refusal (fault 0)
 * leaves nothing behind. Users, sections and assessments are resolved in the calling peer's namespace:
 * a peer refers only to what it has itself sent (users through fetch_user and the identity mapping).
 * A repeated call with a known idnumber updates (checklist 66); every method answers true.
 */

/**
 * fetch_user(userdata): creates or updates the account through the identity mapping, so a person Moodle
 * already signed on with the same idnumber stays one account (src/identity/remote-users.ts).
 * `password_hash` and `password_hash_algorithm` are deliberately not stored: our users sign in only by
 * SSO from their IdP, and keeping another system's (per the wiki, md5) password hash would only add a
 * weak credential to leak. Free-form profile members are ignored, as the wiki says SchoolTool does.
 */
export async function fetchUser(params: readonly XmlRpcValue[], ctx: CallContext): Promise<true> {
  const method = 'fetch_user';
  const data = readStruct(method, params, 'userdata');
  const profile = {
    username: readText(method, data, 'username', { nonEmpty: true }),
    firstname: readText(method, data, 'firstname', { fallback: '' }),
    lastname: readText(method, data, 'lastname', { fallback: '' }),
    email: readText(method, data, 'email', { fallback: '' }),
    idnumber: readIdnumber(method, data, 'idnumber'),
  };
  // The wiki (Part 1: SSO): "imported user accounts will not have login rights unless changed manually".
  // Only a new account starts suspended; an existing one keeps what an admin (or its SSO origin) gave it.
  const { user, created } = await findOrCreateRemoteUser(ctx.db, ctx.peer, profile, {
    create: true,
    updateProfile: true,
    linkByIdnumber: true,
    loginAllowed: false,
    now: ctx.now,
    log: ctx.log,
  });
  ctx.log.info('schooltool fetch_user', { peer: ctx.peer.wwwroot, idnumber: profile.idnumber, user: user.username, created });
  return true;
}

/** new_section(sectiondata): teacheridnumber is optional, but when sent it must name a known user. */
export async function newSection(params: readonly XmlRpcValue[], ctx: CallContext): Promise<true> {
  const method = 'new_section';
  const data = readStruct(method, params, 'sectiondata');
  const idnumber = readIdnumber(method, data, 'idnumber');
  const name = readText(method, data, 'name', { nonEmpty: true });
  const teacherIdnumber = readIdnumber(method, data, 'teacheridnumber', { optional: true });
  const segment = readWholeNumber(method, data, 'segment', 0) ?? null;
  await ctx.db.transaction(async (trx) => {
    let teacherUserId: number | null = null;
    if (teacherIdnumber !== undefined) {
      const teacher = await findUserByIdnumber(trx, ctx.peer, teacherIdnumber);
      if (!teacher) throw unknownIdnumber(method, 'teacheridnumber', 'user', teacherIdnumber);
      teacherUserId = teacher.id;
    }
    await upsertSection(trx, ctx.peer.id, { idnumber, name, teacherUserId, segment }, ctx.now);
  });
  ctx.log.debug('schooltool new_section', { peer: ctx.peer.wwwroot, idnumber });
  return true;
}

/**
 * new_enrolment(enrolmentdata): role student or teacher only (§10). `status` is our extension for
 * unenrolment (wiki scenario 3): `active` when absent, or `withdrawn`.
 */
export async function newEnrolment(params: readonly XmlRpcValue[], ctx: CallContext): Promise<true> {
  const method = 'new_enrolment';
  const data = readStruct(method, params, 'enrolmentdata');
  const sectionIdnumber = readIdnumber(method, data, 'sectionid');
  const userIdnumber = readIdnumber(method, data, 'userid');
  const role = readChoice(method, data, 'role', enrolmentRoles);
  const status = readChoice(method, data, 'status', enrolmentStatuses, 'active');
  const change = await ctx.db.transaction(async (trx) => {
    const sectionId = await findSectionId(trx, ctx.peer.id, sectionIdnumber);
    if (sectionId === undefined) throw unknownIdnumber(method, 'sectionid', 'section', sectionIdnumber);
    const user = await findUserByIdnumber(trx, ctx.peer, userIdnumber);
    if (!user) throw unknownIdnumber(method, 'userid', 'user', userIdnumber);
    return upsertEnrolment(trx, { sectionId, userId: user.id, role, status }, ctx.now);
  });
  ctx.log.debug('schooltool new_enrolment', { peer: ctx.peer.wwwroot, section: sectionIdnumber, user: userIdnumber, role, status, change });
  return true;
}

/** new_assessment(assessmentdata): the section must be known; the flags default to false when absent. */
export async function newAssessment(params: readonly XmlRpcValue[], ctx: CallContext): Promise<true> {
  const method = 'new_assessment';
  const data = readStruct(method, params, 'assessmentdata');
  const sectionIdnumber = readIdnumber(method, data, 'sectionid');
  const fields = {
    idnumber: readIdnumber(method, data, 'idnumber'),
    name: readText(method, data, 'name', { nonEmpty: true }),
    chapternum: readWholeNumber(method, data, 'chapternum', 0) ?? null,
    honorsRequired: readFlag(method, data, 'honors_required', false),
    nonhonorsRequired: readFlag(method, data, 'nonhonors_required', false),
    extraCredit: readFlag(method, data, 'extra_credit', false),
    pointval: readPoints(method, data, 'pointval', { optional: true }) ?? null,
  };
  await ctx.db.transaction(async (trx) => {
    const sectionId = await findSectionId(trx, ctx.peer.id, sectionIdnumber);
    if (sectionId === undefined) throw unknownIdnumber(method, 'sectionid', 'section', sectionIdnumber);
    await upsertAssessment(trx, ctx.peer.id, { ...fields, sectionId }, ctx.now);
  });
  ctx.log.debug('schooltool new_assessment', { peer: ctx.peer.wwwroot, idnumber: fields.idnumber, section: sectionIdnumber });
  return true;
}

/**
 * new_grade(gradedata): one row per (assessment, user, attempt_num); attempt_num defaults to 1.
 * points_earned may be left out only for an excepted grade (the student is excused from it).
 */
export async function newGrade(params: readonly XmlRpcValue[], ctx: CallContext): Promise<true> {
  const method = 'new_grade';
  const data = readStruct(method, params, 'gradedata');
  const assessmentIdnumber = readIdnumber(method, data, 'assessmentid');
  const userIdnumber = readIdnumber(method, data, 'userid');
  const excepted = readFlag(method, data, 'excepted', false);
  const pointsEarned = excepted ? (readPoints(method, data, 'points_earned', { optional: true }) ?? null) : readPoints(method, data, 'points_earned');
  const attemptNum = readWholeNumber(method, data, 'attempt_num', 1) ?? 1;
  await ctx.db.transaction(async (trx) => {
    const assessmentId = await findAssessmentId(trx, ctx.peer.id, assessmentIdnumber);
    if (assessmentId === undefined) throw unknownIdnumber(method, 'assessmentid', 'assessment', assessmentIdnumber);
    const user = await findUserByIdnumber(trx, ctx.peer, userIdnumber);
    if (!user) throw unknownIdnumber(method, 'userid', 'user', userIdnumber);
    await upsertGrade(trx, { assessmentId, userId: user.id, pointsEarned, excepted, attemptNum }, ctx.now);
  });
  ctx.log.debug('schooltool new_grade', { peer: ctx.peer.wwwroot, assessment: assessmentIdnumber, user: userIdnumber, attempt: attemptNum });
  return true;
}
