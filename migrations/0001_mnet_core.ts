import type { Knex } from 'knex';

/** MNet core: our key pairs, the application types, peers with their per-service settings, the replay cache. */
export async function up(knex: Knex): Promise<void> {
  // Our key pairs. The current one has retired_at null; retired ones are kept for decryption only (§5.2).
  await knex.schema.createTable('site_keys', (t) => {
    t.increments('id');
    t.text('certificate_pem').notNullable();
    t.text('private_key_pem').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('retired_at', { useTz: true });
  });
  await knex.raw('create unique index site_keys_one_current on site_keys ((true)) where retired_at is null');

  // Application types and where their endpoints live (§1.1, §9.1 `application`).
  await knex.schema.createTable('applications', (t) => {
    t.string('name', 20).primary();
    t.string('display_name', 80).notNullable();
    t.string('xmlrpc_server_path', 255).notNullable();
    t.string('sso_land_path', 255).notNullable();
  });
  await knex('applications').insert([
    { name: 'moodle', display_name: 'Moodle', xmlrpc_server_path: '/mnet/xmlrpc/server.php', sso_land_path: '/auth/mnet/land.php' },
    { name: 'mahara', display_name: 'Mahara', xmlrpc_server_path: '/api/xmlrpc/server.php', sso_land_path: '/auth/xmlrpc/land.php' },
    // No source documents SchoolTool's paths; its Python port copies the PHP library (§10).
    { name: 'schooltool', display_name: 'SchoolTool', xmlrpc_server_path: '/api/xmlrpc/server.php', sso_land_path: '/auth/xmlrpc/land.php' },
  ]);

  await knex.schema.createTable('peers', (t) => {
    t.increments('id');
    t.string('wwwroot', 255).notNullable().unique();
    t.string('name', 80).notNullable();
    t.string('application', 20).notNullable().references('applications.name');
    t.text('public_key_pem').notNullable();
    t.timestamp('public_key_expires', { useTz: true }).notNullable();
    t.boolean('deleted').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_connect_at', { useTz: true });
  });

  // Explicit per-peer service settings; a service without a row uses its registered default (§7.1).
  // publish = the peer may call our methods in this service; subscribe = we may call the peer's.
  await knex.schema.createTable('peer_services', (t) => {
    t.integer('peer_id').notNullable().references('peers.id').onDelete('CASCADE');
    t.string('service', 40).notNullable();
    t.boolean('publish').notNullable();
    t.boolean('subscribe').notNullable();
    t.primary(['peer_id', 'service']);
  });

  // Opt-in replay protection (§3.4): SHA-1 of each accepted signature value, kept for the window.
  await knex.schema.createTable('mnet_replay_cache', (t) => {
    t.string('signature_sha1', 40).primary();
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['mnet_replay_cache', 'peer_services', 'peers', 'applications', 'site_keys']) {
    await knex.schema.dropTableIfExists(table);
  }
}
