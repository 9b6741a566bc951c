import type { Knex } from 'knex';

/**
 * SchoolTool (mnet-protocol.md §10): sections, enrolments with their status history, assessments and
 * grades that a SchoolTool-style peer pushes to us, keyed by the idnumbers it shares with Moodle.
 */
export async function up(knex: Knex): Promise<void> {
  // A SchoolTool section = a Moodle course. Idnumbers are the peer's namespace, so unique per peer.
  await knex.schema.createTable('st_sections', (t) => {
    t.increments('id');
    t.integer('peer_id').notNullable().references('peers.id').onDelete('CASCADE');
    t.string('idnumber', 255).notNullable();
    t.text('name').notNullable();
    t.integer('teacher_user_id').references('users.id').onDelete('SET NULL');
    // Term/semester number (§10); the wiki marks it optional ("may have more than one … (?)").
    t.integer('segment');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['peer_id', 'idnumber']);
    // Target of st_assessments' composite foreign key below.
    t.unique(['id', 'peer_id']);
  });

  await knex.schema.createTable('st_enrolments', (t) => {
    t.increments('id');
    t.integer('section_id').notNullable().references('st_sections.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE').index();
    t.string('role', 20).notNullable();
    t.string('status', 20).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['section_id', 'user_id']);
  });
  // Integration v1.0 supports only these roles (§10); the wiki's SchoolTool TODO asks for a status with history.
  await knex.raw("alter table st_enrolments add constraint st_enrolments_role_check check (role in ('student', 'teacher'))");
  await knex.raw("alter table st_enrolments add constraint st_enrolments_status_check check (status in ('active', 'withdrawn'))");

  // One row per change of role or status, the first being the enrolment itself (the wiki's "history of states").
  await knex.schema.createTable('st_enrolment_events', (t) => {
    t.increments('id');
    t.integer('enrolment_id').notNullable().references('st_enrolments.id').onDelete('CASCADE').index();
    t.string('role', 20).notNullable();
    t.string('status', 20).notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
  });

  // Unique per (peer, idnumber), not per section: new_grade names an assessment by its idnumber alone, so
  // within one peer it must identify one assessment. peer_id is repeated here to carry that index; the
  // composite foreign key keeps it equal to the section's peer.
  await knex.schema.createTable('st_assessments', (t) => {
    t.increments('id');
    t.integer('peer_id').notNullable();
    t.integer('section_id').notNullable();
    t.string('idnumber', 255).notNullable();
    t.text('name').notNullable();
    t.integer('chapternum');
    t.boolean('honors_required').notNullable().defaultTo(false);
    t.boolean('nonhonors_required').notNullable().defaultTo(false);
    t.boolean('extra_credit').notNullable().defaultTo(false);
    t.specificType('pointval', 'numeric');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['peer_id', 'idnumber']);
    t.index(['section_id']);
    t.foreign(['section_id', 'peer_id']).references(['id', 'peer_id']).inTable('st_sections').onDelete('CASCADE');
  });

  await knex.schema.createTable('st_grades', (t) => {
    t.increments('id');
    t.integer('assessment_id').notNullable().references('st_assessments.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE').index();
    // Null only for an excepted grade sent without points.
    t.specificType('points_earned', 'numeric');
    t.boolean('excepted').notNullable().defaultTo(false);
    t.integer('attempt_num').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.unique(['assessment_id', 'user_id', 'attempt_num']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['st_grades', 'st_assessments', 'st_enrolment_events', 'st_enrolments', 'st_sections']) {
    await knex.schema.dropTableIfExists(table);
  }
}
