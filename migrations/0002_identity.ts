import type { Knex } from 'knex';

/** Identity: local users, the per-peer identity flags, and the (peer, remote username) → user mapping. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    // Derived usernames are lower-case and at most 100 characters (src/identity/users.ts).
    t.string('username', 100).notNullable();
    // Names and email come from peers (Moodle allows 100 characters each); text so a landing never fails on length.
    t.text('first_name').notNullable().defaultTo('');
    t.text('last_name').notNullable().defaultTo('');
    t.text('email').notNullable().defaultTo('');
    // The shared idnumber (§10), Mahara's "student id" profile field.
    t.string('student_id', 255);
    // Mahara's default user quota, 50 MiB.
    t.bigInteger('quota').notNullable().defaultTo(52428800);
    t.bigInteger('quota_used').notNullable().defaultTo(0);
    t.boolean('login_allowed').notNullable().defaultTo(true);
    t.integer('created_by_peer_id').references('peers.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
  });
  // Mahara compares usernames case-insensitively (§8.3): "JSmith" and "jsmith" are one name.
  await knex.raw('create unique index users_username_lower_unique on users (lower(username))');

  // Mahara's auth_instance_config flags for an xmlrpc instance (§9.1); a missing config row means 0.
  await knex.schema.alterTable('peers', (t) => {
    for (const flag of ['they_sso_in', 'we_sso_out', 'we_auto_create_users', 'they_auto_create_users', 'update_user_info_on_login', 'we_import_content']) {
      t.boolean(flag).notNullable().defaultTo(false);
    }
  });

  // Mahara's auth_remote_user (§9.1), plus the shared idnumber that SchoolTool links users by (§10).
  await knex.schema.createTable('remote_users', (t) => {
    t.integer('peer_id').notNullable().references('peers.id').onDelete('CASCADE');
    // Exactly as the peer sent it; lookups compare it case-insensitively.
    t.string('remote_username', 255).notNullable();
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE').index();
    t.string('idnumber', 255);
    t.primary(['peer_id', 'remote_username']);
  });
  await knex.raw('create unique index remote_users_peer_username_lower_unique on remote_users (peer_id, lower(remote_username))');
  await knex.raw('create unique index remote_users_peer_idnumber_unique on remote_users (peer_id, idnumber) where idnumber is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('remote_users');
  await knex.schema.alterTable('peers', (t) => {
    t.dropColumns('they_sso_in', 'we_sso_out', 'we_auto_create_users', 'they_auto_create_users', 'update_user_info_on_login', 'we_import_content');
  });
  await knex.schema.dropTableIfExists('users');
}
