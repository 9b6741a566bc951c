import type { Knex } from 'knex';

/** A graded item of a section (§10 new_assessment). Points are decimal text, stored exactly. */
export interface AssessmentData {
  idnumber: string;
  sectionId: number;
  name: string;
  chapternum: number | null;
  honorsRequired: boolean;
  nonhonorsRequired: boolean;
  extraCredit: boolean;
  pointval: string | null;
}

/** The id of the assessment this peer knows by `idnumber` (unique per peer: new_grade sends no section). */
export async function findAssessmentId(trx: Knex, peerId: number, idnumber: string): Promise<number | undefined> {
  const row = await trx('st_assessments').where({ peer_id: peerId, idnumber }).first('id');
  return row?.id as number | undefined;
}

/** Creates the assessment or overwrites the one with this idnumber, moving it if the section changed. */
export async function upsertAssessment(trx: Knex, peerId: number, data: AssessmentData, now: Date): Promise<number> {
  const fields = {
    section_id: data.sectionId,
    name: data.name,
    chapternum: data.chapternum,
    honors_required: data.honorsRequired,
    nonhonors_required: data.nonhonorsRequired,
    extra_credit: data.extraCredit,
    pointval: data.pointval,
    updated_at: now,
  };
  const [row] = await trx('st_assessments')
    .insert({ peer_id: peerId, idnumber: data.idnumber, ...fields, created_at: now })
    .onConflict(['peer_id', 'idnumber'])
    .merge(fields)
    .returning('id');
  return row.id as number;
}
