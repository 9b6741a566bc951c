import type { Knex } from 'knex';

/** A SchoolTool section (= a Moodle course, §10) as new_section describes it. */
export interface SectionData {
  idnumber: string;
  name: string;
  teacherUserId: number | null;
  segment: number | null;
}

/** The id of the section this peer knows by `idnumber`, if any. */
export async function findSectionId(trx: Knex, peerId: number, idnumber: string): Promise<number | undefined> {
  const row = await trx('st_sections').where({ peer_id: peerId, idnumber }).first('id');
  return row?.id as number | undefined;
}

/**
 * Creates the section or, when the peer already sent this idnumber, overwrites its fields (checklist 66).
 * One statement, so two concurrent calls cannot both insert.
 */
export async function upsertSection(trx: Knex, peerId: number, data: SectionData, now: Date): Promise<number> {
  const fields = { name: data.name, teacher_user_id: data.teacherUserId, segment: data.segment, updated_at: now };
  const [row] = await trx('st_sections')
    .insert({ peer_id: peerId, idnumber: data.idnumber, ...fields, created_at: now })
    .onConflict(['peer_id', 'idnumber'])
    .merge(fields)
    .returning('id');
  return row.id as number;
}
