import type { Knex } from 'knex';

/**
 * An admin pairs a SchoolTool peer with the Moodle peer it is integrated with: only within such a pair
 * does an idnumber name the same person on both sides, so only there are accounts linked by idnumber.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('peers', (t) => {
    t.integer('paired_peer_id').references('peers.id').onDelete('SET NULL');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('peers', (t) => {
    t.dropColumn('paired_peer_id');
  });
}
