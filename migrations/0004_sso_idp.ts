import type { Knex } from 'knex';

/**
 * SSO with us as identity provider: Mahara's sso_session (§8.7), one row per (user, service provider),
 * holding the one-time token a jump hands to the SP and the session the jump was made from.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sso_sessions', (t) => {
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.integer('peer_id').notNullable().references('peers.id').onDelete('CASCADE');
    // 40 lowercase hex; cleared (null) once user_authorise has used it, so a token works only once (§8.2).
    t.specificType('token', 'char(40)').unique();
    // SHA-1 hex of the browser's User-Agent at jump time; user_authorise must present the same hash.
    t.specificType('useragent_sha1', 'char(40)').notNullable();
    t.timestamp('confirm_timeout', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    // The session the user jumped from: kill_children ends it, keepalive_server extends it (§8.5, §8.6).
    t.integer('session_id').references('sessions.id').onDelete('SET NULL').index();
    // Mahara's key is (userid, instanceid); one peer stands for one xmlrpc auth instance here.
    t.primary(['user_id', 'peer_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sso_sessions');
}
