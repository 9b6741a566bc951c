import type { Knex } from 'knex';

/**
 * Web pages (local login, admins, CSRF): a password hash and an admin flag on users, a lockout after
 * repeated failed logins, a CSRF token per session, and single-use links that set a password
 * (`npm run cli -- admin create`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    // `scrypt$N$r$p$salt$hash` (src/identity/passwords.ts); null: no local login, only SSO.
    t.text('password_hash');
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
  });
  await knex.schema.alterTable('sessions', (t) => {
    // Sent back in every form; sessions made before this migration have none and cannot post.
    t.specificType('csrf_token', 'char(64)');
  });
  await knex.schema.createTable('password_links', (t) => {
    t.increments('id');
    // SHA-256 hex of the token in the link, as for sessions.
    t.specificType('token_sha256', 'char(64)').notNullable().unique();
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE').index();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('password_links');
  await knex.schema.alterTable('sessions', (t) => t.dropColumn('csrf_token'));
  await knex.schema.alterTable('users', (t) => {
    for (const column of ['password_hash', 'is_admin', 'failed_logins', 'locked_until']) t.dropColumn(column);
  });
}
