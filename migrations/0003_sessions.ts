import type { Knex } from 'knex';

/** Browser sessions: ours after a local login or an SSO landing (§8.1 step 3), ended by kill_child (§8.5). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sessions', (t) => {
    t.increments('id');
    // SHA-256 hex of the cookie value: a copy of this table does not let anyone use the sessions.
    t.specificType('token_sha256', 'char(64)').notNullable().unique();
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE').index();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_seen_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    // Set when the session came from SSO: which IdP, and the username it knows the user by (keepalive).
    t.integer('idp_peer_id').references('peers.id').onDelete('CASCADE');
    t.string('remote_username', 255);
    // SHA-1 hex of the User-Agent at login, as MNet hashes it (§8); informational, never enforced.
    t.specificType('user_agent_sha1', 'char(40)');
  });
  await knex.raw('create index sessions_idp_remote_username on sessions (idp_peer_id, lower(remote_username)) where idp_peer_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sessions');
}
