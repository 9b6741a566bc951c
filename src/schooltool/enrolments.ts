import type { Knex } from 'knex';

/** Integration v1.0 supports only these roles (§10). */
export const enrolmentRoles = ['student', 'teacher'] as const;
export type EnrolmentRole = (typeof enrolmentRoles)[number];

/**
 * The wiki's SchoolTool TODO asks for "a current state and a history of states"; v1.0 needs only these
 * two (a Moodle unenrolment becomes `withdrawn`, scenario 3).
 */
export const enrolmentStatuses = ['active', 'withdrawn'] as const;
export type EnrolmentStatus = (typeof enrolmentStatuses)[number];

export interface EnrolmentData {
  sectionId: number;
  userId: number;
  role: EnrolmentRole;
  status: EnrolmentStatus;
}

export type EnrolmentChange = 'created' | 'changed' | 'unchanged';

/**
 * Creates the enrolment or updates its role and status. Every creation and every change of role or
 * status adds a row to st_enrolment_events; a repeated identical call writes nothing (idempotent).
 */
export async function upsertEnrolment(trx: Knex.Transaction, data: EnrolmentData, now: Date): Promise<EnrolmentChange> {
  const key = { section_id: data.sectionId, user_id: data.userId };
  const state = { role: data.role, status: data.status };
  // Insert-or-nothing first, so two concurrent first calls make one row; the loser then locks and compares.
  const [inserted] = await trx('st_enrolments')
    .insert({ ...key, ...state, created_at: now, updated_at: now })
    .onConflict(['section_id', 'user_id'])
    .ignore()
    .returning('id');
  if (inserted) {
    await trx('st_enrolment_events').insert({ enrolment_id: inserted.id, ...state, at: now });
    return 'created';
  }
  const current = await trx('st_enrolments').where(key).forUpdate().first('id', 'role', 'status');
  if (current.role === data.role && current.status === data.status) return 'unchanged';
  await trx('st_enrolments').where({ id: current.id }).update({ ...state, updated_at: now });
  await trx('st_enrolment_events').insert({ enrolment_id: current.id, ...state, at: now });
  return 'changed';
}
