import type { Knex } from 'knex';
import * as m0001 from './0001_mnet_core.js';
import * as m0002 from './0002_identity.js';
import * as m0003 from './0003_sessions.js';
import * as m0004 from './0004_sso_idp.js';
import * as m0005 from './0005_schooltool.js';
import * as m0006 from './0006_peer_pairing.js';
import * as m0007 from './0007_portfolio_import.js';
import * as m0008 from './0008_web_accounts.js';
import * as m0009 from './0009_import_events.js';

/**
 * Migrations are listed here rather than found by scanning a folder, so they load the same way under
 * tsx, vitest and a bundler. Numbered, one change each, never edited once merged.
 */
const migrations: Record<string, Knex.Migration> = {
  '0001_mnet_core': m0001,
  '0002_identity': m0002,
  '0003_sessions': m0003,
  '0004_sso_idp': m0004,
  '0005_schooltool': m0005,
  '0006_peer_pairing': m0006,
  '0007_portfolio_import': m0007,
  '0008_web_accounts': m0008,
  '0009_import_events': m0009,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};
