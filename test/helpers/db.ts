import crypto from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { createDb, migrateToLatest } from '../../src/db/knex.js';

/**
 * Every database test runs on embedded PGlite, and on PostgreSQL too when TEST_DATABASE_URL is set
 * (.ci/run sets it). Each test file gets a fresh, migrated database and drops it afterwards
 * (graphile-worker's helpers.ts idea).
 */
export interface TestEngine {
  readonly name: 'pglite' | 'postgresql';
  create(): Promise<TestDb>;
}

export interface TestDb {
  readonly db: Knex;
  drop(): Promise<void>;
}

const pglite: TestEngine = {
  name: 'pglite',
  async create() {
    const db = createDb({ pgliteDir: null });
    await migrateToLatest(db);
    return { db, drop: () => db.destroy() };
  },
};

const postgres: TestEngine = {
  name: 'postgresql',
  async create() {
    const database = await createPostgresDatabase();
    if (!database) throw new Error('TEST_DATABASE_URL is needed for the postgresql engine');
    const db = createDb({ databaseUrl: database.url });
    await migrateToLatest(db);
    return {
      db,
      drop: async () => {
        await db.destroy();
        await database.drop();
      },
    };
  },
};

export const engines: readonly TestEngine[] = process.env.TEST_DATABASE_URL ? [pglite, postgres] : [pglite];

/** A connection string for a fresh PostgreSQL database, for tests that start whole services; undefined without TEST_DATABASE_URL. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) return undefined;
  const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  const name = `pis_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await admin.raw(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.raw(`drop database if exists ${name} with (force)`);
      await admin.destroy();
    },
  };
}
