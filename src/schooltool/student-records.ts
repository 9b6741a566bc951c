import type { Knex } from 'knex';
import type { EnrolmentRole, EnrolmentStatus } from './enrolments.js';

/**
 * Read-only views of what SchoolTool peers sent us about one user (§10), for the admin's user page: the
 * sections they are in or teach, their enrolments with the history of states, and their grades. Values
 * are returned as stored (idnumbers, decimal points as text) so an admin can compare them with SchoolTool.
 */

/** Where a row came from: several SchoolTool sites may send data about the same person. */
export interface SchooltoolSite {
  readonly peerId: number;
  readonly peerName: string;
  readonly wwwroot: string;
}

export interface StudentSection {
  readonly id: number;
  readonly site: SchooltoolSite;
  readonly idnumber: string;
  readonly name: string;
  /** The term/semester number (new_section's `segment`); null when the peer sent none. */
  readonly segment: number | null;
  readonly teacher: { readonly id: number; readonly username: string; readonly fullName: string } | null;
  /** The user teaches it (teacheridnumber), as opposed to only being enrolled. */
  readonly teachesIt: boolean;
}

export interface EnrolmentEvent {
  readonly role: EnrolmentRole;
  readonly status: EnrolmentStatus;
  readonly at: Date;
}

export interface StudentEnrolment {
  readonly id: number;
  readonly sectionId: number;
  readonly sectionIdnumber: string;
  readonly sectionName: string;
  readonly role: EnrolmentRole;
  readonly status: EnrolmentStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Oldest first; the first event is the enrolment itself. */
  readonly history: readonly EnrolmentEvent[];
}

export interface StudentGrade {
  readonly id: number;
  readonly sectionIdnumber: string;
  readonly sectionName: string;
  readonly assessmentIdnumber: string;
  readonly assessmentName: string;
  readonly chapternum: number | null;
  /** Decimal text as stored; null only for an excepted grade sent without points. */
  readonly pointsEarned: string | null;
  /** The assessment's maximum, decimal text; null when the peer sent none. */
  readonly pointval: string | null;
  readonly excepted: boolean;
  readonly extraCredit: boolean;
  readonly attemptNum: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface StudentRecords {
  readonly sections: readonly StudentSection[];
  readonly enrolments: readonly StudentEnrolment[];
  readonly grades: readonly StudentGrade[];
}

// numeric columns: node-postgres and PGlite both answer text; a number is turned into text too.
function decimalText(value: string | number | null): string | null {
  return value === null ? null : String(value);
}

async function listSections(db: Knex, userId: number): Promise<StudentSection[]> {
  const rows: Array<{
    id: number;
    peer_id: number;
    peer_name: string;
    wwwroot: string;
    idnumber: string;
    name: string;
    segment: number | null;
    teacher_user_id: number | null;
    teacher_username: string | null;
    teacher_first_name: string | null;
    teacher_last_name: string | null;
  }> = await db('st_sections as s')
    .join('peers as p', 'p.id', 's.peer_id')
    .leftJoin('users as t', 't.id', 's.teacher_user_id')
    .where('s.teacher_user_id', userId)
    .orWhereExists((q) => q.select(db.raw('1')).from('st_enrolments as e').whereRaw('e.section_id = s.id').where('e.user_id', userId))
    .orderByRaw('s.segment nulls last, s.name, s.idnumber')
    .select(
      's.id',
      's.peer_id',
      'p.name as peer_name',
      'p.wwwroot',
      's.idnumber',
      's.name',
      's.segment',
      's.teacher_user_id',
      't.username as teacher_username',
      't.first_name as teacher_first_name',
      't.last_name as teacher_last_name',
    );
  return rows.map((r) => ({
    id: r.id,
    site: { peerId: r.peer_id, peerName: r.peer_name, wwwroot: r.wwwroot },
    idnumber: r.idnumber,
    name: r.name,
    segment: r.segment,
    teacher:
      r.teacher_user_id === null
        ? null
        : { id: r.teacher_user_id, username: r.teacher_username!, fullName: `${r.teacher_first_name ?? ''} ${r.teacher_last_name ?? ''}`.trim() },
    teachesIt: r.teacher_user_id === userId,
  }));
}

async function listEnrolments(db: Knex, userId: number): Promise<StudentEnrolment[]> {
  const rows: Array<{
    id: number;
    section_id: number;
    section_idnumber: string;
    section_name: string;
    role: EnrolmentRole;
    status: EnrolmentStatus;
    created_at: Date;
    updated_at: Date;
  }> = await db('st_enrolments as e')
    .join('st_sections as s', 's.id', 'e.section_id')
    .where('e.user_id', userId)
    .orderBy(['s.name', 's.idnumber'])
    .select('e.id', 'e.section_id', 's.idnumber as section_idnumber', 's.name as section_name', 'e.role', 'e.status', 'e.created_at', 'e.updated_at');
  const events: Array<{ enrolment_id: number; role: EnrolmentRole; status: EnrolmentStatus; at: Date }> =
    rows.length === 0
      ? []
      : await db('st_enrolment_events')
          .whereIn(
            'enrolment_id',
            rows.map((r) => r.id),
          )
          .orderBy(['at', 'id'])
          .select('enrolment_id', 'role', 'status', 'at');
  return rows.map((r) => ({
    id: r.id,
    sectionId: r.section_id,
    sectionIdnumber: r.section_idnumber,
    sectionName: r.section_name,
    role: r.role,
    status: r.status,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    history: events.filter((e) => e.enrolment_id === r.id).map((e) => ({ role: e.role, status: e.status, at: new Date(e.at) })),
  }));
}

async function listGrades(db: Knex, userId: number): Promise<StudentGrade[]> {
  const rows: Array<{
    id: number;
    section_idnumber: string;
    section_name: string;
    assessment_idnumber: string;
    assessment_name: string;
    chapternum: number | null;
    points_earned: string | number | null;
    pointval: string | number | null;
    excepted: boolean;
    extra_credit: boolean;
    attempt_num: number;
    created_at: Date;
    updated_at: Date;
  }> = await db('st_grades as g')
    .join('st_assessments as a', 'a.id', 'g.assessment_id')
    .join('st_sections as s', 's.id', 'a.section_id')
    .where('g.user_id', userId)
    .orderByRaw('s.name, s.idnumber, a.chapternum nulls last, a.name, a.idnumber, g.attempt_num')
    .select(
      'g.id',
      's.idnumber as section_idnumber',
      's.name as section_name',
      'a.idnumber as assessment_idnumber',
      'a.name as assessment_name',
      'a.chapternum',
      'g.points_earned',
      'a.pointval',
      'g.excepted',
      'a.extra_credit',
      'g.attempt_num',
      'g.created_at',
      'g.updated_at',
    );
  return rows.map((r) => ({
    id: r.id,
    sectionIdnumber: r.section_idnumber,
    sectionName: r.section_name,
    assessmentIdnumber: r.assessment_idnumber,
    assessmentName: r.assessment_name,
    chapternum: r.chapternum,
    pointsEarned: decimalText(r.points_earned),
    pointval: decimalText(r.pointval),
    excepted: r.excepted,
    extraCredit: r.extra_credit,
    attemptNum: r.attempt_num,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  }));
}

/** Everything SchoolTool sent about this user, each list in the order a gradebook shows it. */
export async function loadStudentRecords(db: Knex, userId: number): Promise<StudentRecords> {
  const [sections, enrolments, grades] = await Promise.all([listSections(db, userId), listEnrolments(db, userId), listGrades(db, userId)]);
  return { sections, enrolments, grades };
}
