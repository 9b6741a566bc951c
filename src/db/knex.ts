import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { migrationSource } from '../../migrations/index.js';

/**
 * The one place that creates database connections (style.md). With a connection string it is a real
 * PostgreSQL; without, PGlite keeps the data in `<dataDir>/pgdata` (or in memory for tests when dataDir
 * is null). The same migrations and queries serve both.
 */
export type DbTarget = { databaseUrl: string } | { pgliteDir: string | null };

export function createDb(target: DbTarget): Knex {
  if ('databaseUrl' in target) {
    return knexFactory({ client: 'pg', connection: target.databaseUrl, pool: { min: 0, max: 10 } });
  }
  // Our private keys live in this database: keep its folder private to our user.
  if (target.pgliteDir !== null) fs.mkdirSync(path.dirname(target.pgliteDir), { recursive: true, mode: 0o700 });
  return knexFactory({
    client: ClientPgLite as unknown as typeof knexFactory.Client,
    dialect: 'postgres',
    connection: target.pgliteDir === null ? {} : { filename: target.pgliteDir },
  });
}

export function dbTargetFor(config: { databaseUrl: string | undefined; dataDir: string }): DbTarget {
  return config.databaseUrl ? { databaseUrl: config.databaseUrl } : { pgliteDir: path.join(config.dataDir, 'pgdata') };
}

/** Brings the schema up to date; safe to run from several processes at once (knex's migration lock). */
export async function migrateToLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** Which engine a knex instance talks to, for /healthz and logs. */
export function engineName(db: Knex): 'postgresql' | 'pglite' {
  return db.client.config.client === 'pg' ? 'postgresql' : 'pglite';
}
