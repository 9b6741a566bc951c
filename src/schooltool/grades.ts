import type { Knex } from 'knex';

/** One attempt's grade (§10 new_grade); points are decimal text, null only when excepted without points. */
export interface GradeData {
  assessmentId: number;
  userId: number;
  pointsEarned: string | null;
  excepted: boolean;
  attemptNum: number;
}

/** Creates the grade of this attempt or overwrites it: a regraded attempt replaces, a new attempt adds a row. */
export async function upsertGrade(trx: Knex, data: GradeData, now: Date): Promise<number> {
  const fields = { points_earned: data.pointsEarned, excepted: data.excepted, updated_at: now };
  const [row] = await trx('st_grades')
    .insert({ assessment_id: data.assessmentId, user_id: data.userId, attempt_num: data.attemptNum, ...fields, created_at: now })
    .onConflict(['assessment_id', 'user_id', 'attempt_num'])
    .merge(fields)
    .returning('id');
  return row.id as number;
}
