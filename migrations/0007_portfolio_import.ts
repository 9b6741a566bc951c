import type { Knex } from 'knex';

/**
 * Portfolio import (portfolio-import.md): the intent/queue table, the audit of finished transfers, the
 * artefacts a package becomes, the content-addressed blob store behind file artefacts, pages and
 * collections (LEAP2A `Webpage`/`Website` selections) and admins' plugin priority overrides.
 */
export async function up(knex: Knex): Promise<void> {
  // §2.1: Mahara's import_queue plus our columns (state, attempts, backoff, claim, cached zip).
  await knex.schema.createTable('import_queue', (t) => {
    t.increments('id');
    // The peer's wwwroot as stored in `peers`; null for a local upload.
    t.string('host', 255).references('peers.wwwroot');
    t.integer('usr').notNullable().references('users.id').onDelete('CASCADE');
    t.smallint('queue').notNullable().defaultTo(1);
    t.smallint('ready').notNullable().defaultTo(0);
    t.timestamp('expirytime', { useTz: true }).notNullable();
    t.string('format', 50);
    // importdata as JSON (Mahara stores a PHP-serialised array).
    t.text('data');
    t.string('token', 40).notNullable().unique();
    t.smallint('loglevel');
    t.timestamp('ctime', { useTz: true }).notNullable();
    t.string('transport', 8).notNullable().defaultTo('mnet');
    t.text('location');
    // intended | queued | processing | failed (§2.3); success, expiry and cancelling delete the row.
    t.string('state', 16).notNullable().defaultTo('intended');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('lasterror');
    t.timestamp('lastattempt', { useTz: true });
    // Backoff: a queued row is not taken before this time.
    t.timestamp('run_after', { useTz: true });
    // The worker holding a `processing` row and since when; a stale claim is taken over (src/portfolio/queue.ts).
    t.string('locked_by', 64);
    t.timestamp('locked_at', { useTz: true });
    // Bytes fetched so far, for admins watching a running import.
    t.bigInteger('progress_bytes').notNullable().defaultTo(0);
    // §2.4: the fetched zip kept until the import commits, since Moodle deletes its copy after one fetch.
    t.text('zippath');
    t.string('zipsha1', 40);
    t.index(['state', 'run_after']);
    t.index(['expirytime']);
  });

  // §2.6: what became of every transfer, kept after its queue row is gone.
  await knex.schema.createTable('import_history', (t) => {
    t.increments('id');
    t.integer('queue_id').notNullable();
    t.string('host', 255);
    // So a repeated send_content_ready for a finished transfer gets the same answer (src/portfolio/rpc.ts).
    t.string('token', 40).index();
    t.integer('usr').notNullable().references('users.id').onDelete('CASCADE').index();
    t.string('format', 50);
    t.string('transport', 8).notNullable();
    // complete | failed | expired | cancelled
    t.string('outcome', 16).notNullable();
    t.integer('artefacts').notNullable().defaultTo(0);
    // LEAP entries skipped with a warning (missing attachment, a single file over quota, …).
    t.integer('skipped').notNullable().defaultTo(0);
    t.text('message');
    // The continue-URL query string Moodle got, or would have got ('?folder=…&file=…&').
    t.text('querystring');
    t.timestamp('ctime', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).notNullable().index();
  });

  // One stored copy per distinct content (sha256), under DATA_DIR/files (src/artefacts/blob-store.ts).
  await knex.schema.createTable('blobs', (t) => {
    t.string('hash', 64).primary();
    t.bigInteger('size').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
  });

  await knex.schema.createTable('views', (t) => {
    t.increments('id');
    t.integer('owner').notNullable().references('users.id').onDelete('CASCADE').index();
    // portfolio | profile | dashboard (LEAP2A mahara:view/@mahara:type)
    t.string('type', 32).notNullable().defaultTo('portfolio');
    t.text('title').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.timestamp('ctime', { useTz: true }).notNullable();
    t.timestamp('mtime', { useTz: true }).notNullable();
    t.integer('import_id');
  });

  // Mahara's artefact table, trimmed to what imports create; type-specific data in the tables below.
  await knex.schema.createTable('artefacts', (t) => {
    t.increments('id');
    t.integer('owner').notNullable().references('users.id').onDelete('CASCADE').index();
    // folder, file, image, audio, video, archive, blog, blogpost, comment, plan, task, contactinformation, introduction, …
    t.string('artefacttype', 32).notNullable();
    t.integer('parent').references('artefacts.id').onDelete('CASCADE').index();
    t.text('title').notNullable();
    t.text('description').notNullable().defaultTo('');
    // Blog posts: false for a draft (`readiness# Unready`).
    t.boolean('published').notNullable().defaultTo(true);
    // Comments: the name shown as author, and whether only the owner sees it.
    t.text('author_name');
    t.boolean('private').notNullable().defaultTo(false);
    // Small type-specific values (task completion date, plan status, profile field name, …).
    t.jsonb('extra');
    t.timestamp('ctime', { useTz: true }).notNullable();
    t.timestamp('mtime', { useTz: true }).notNullable();
    // Comments: the artefact or page they reflect on (Mahara's artefact_comment_comment).
    t.integer('on_artefact').references('artefacts.id').onDelete('CASCADE');
    t.integer('on_view').references('views.id').onDelete('CASCADE');
    // The queue item whose import created it, for the audit and the student's import history.
    t.integer('import_id');
  });

  await knex.schema.createTable('artefact_files', (t) => {
    t.integer('artefact').primary().references('artefacts.id').onDelete('CASCADE');
    t.string('content_hash', 64).notNullable().references('blobs.hash').index();
    t.bigInteger('size').notNullable();
    t.string('mime', 255).notNullable();
    t.string('original_extension', 255).notNullable().defaultTo('');
    t.integer('width');
    t.integer('height');
  });

  // A post's attached files (Mahara's artefact_attachment).
  await knex.schema.createTable('artefact_attachments', (t) => {
    t.integer('artefact').notNullable().references('artefacts.id').onDelete('CASCADE');
    t.integer('attachment').notNullable().references('artefacts.id').onDelete('CASCADE');
    t.primary(['artefact', 'attachment']);
  });

  await knex.schema.createTable('artefact_tags', (t) => {
    t.integer('artefact').notNullable().references('artefacts.id').onDelete('CASCADE');
    t.text('tag').notNullable();
    t.primary(['artefact', 'tag']);
  });

  // The blocks of a page: a text block holds `content`, an artefact block points at an artefact.
  await knex.schema.createTable('view_blocks', (t) => {
    t.increments('id');
    t.integer('view').notNullable().references('views.id').onDelete('CASCADE').index();
    t.string('blocktype', 32).notNullable();
    t.text('title').notNullable().defaultTo('');
    t.text('content');
    t.integer('artefact').references('artefacts.id').onDelete('CASCADE');
    t.integer('displayorder').notNullable().defaultTo(0);
  });

  await knex.schema.createTable('collections', (t) => {
    t.increments('id');
    t.integer('owner').notNullable().references('users.id').onDelete('CASCADE').index();
    t.text('title').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.timestamp('ctime', { useTz: true }).notNullable();
    t.timestamp('mtime', { useTz: true }).notNullable();
    t.integer('import_id');
  });

  // A page is in at most one collection (§6.6 step 9).
  await knex.schema.createTable('collection_views', (t) => {
    t.integer('view').primary().references('views.id').onDelete('CASCADE');
    t.integer('collection').notNullable().references('collections.id').onDelete('CASCADE').index();
    t.integer('displayorder').notNullable().defaultTo(0);
  });

  // Admins' overrides of a plugin's declared priority for one format/component pair (§4.4).
  await knex.schema.createTable('import_plugin_priorities', (t) => {
    t.string('plugin', 64).notNullable();
    t.string('format_id', 128).notNullable();
    t.integer('priority').notNullable();
    t.primary(['plugin', 'format_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'import_plugin_priorities',
    'collection_views',
    'collections',
    'artefact_tags',
    'artefact_attachments',
    'artefact_files',
    'view_blocks',
    'artefacts',
    'views',
    'blobs',
    'import_history',
    'import_queue',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
