import type { Knex } from 'knex';

/**
 * A log of what happened to each portfolio transfer (intent, ready, claims, fetches, failures, retries,
 * admin actions), for the admin's queue pages (src/portfolio/events.ts). No foreign key to the queue: the
 * row is deleted when a transfer finishes, and its events stay reachable through `import_history.queue_id`
 * until an admin purges that history.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('import_events', (t) => {
    t.increments('id');
    t.integer('queue_id').notNullable().index();
    t.timestamp('at', { useTz: true }).notNullable();
    // info | warn | error
    t.string('level', 8).notNullable();
    t.text('message').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('import_events');
}
