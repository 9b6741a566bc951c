import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { BlobStore } from '../../src/artefacts/blob-store.js';
import { createImportTrace } from '../../src/artefacts/import-trace.js';
import type { ImportContext } from '../../src/artefacts/plugin.js';
import { createUser, findUserById, type User } from '../../src/identity/users.js';
import { silentLogger } from '../../src/log.js';

/** A user, a blob store in a temporary folder, and a way to run an import inside one transaction. */
export interface ImportFixture {
  readonly db: Knex;
  readonly user: User;
  readonly blobs: BlobStore;
  readonly dir: string;
  /** Runs `fn` with a fresh context in one transaction; rolls back (and discards blobs) if it throws. */
  run<T>(fn: (ctx: ImportContext) => Promise<T>, options?: Partial<Pick<ImportContext, 'allowedExtensions' | 'peerName' | 'sitePath' | 'importId'>> & { loglevel?: number }): Promise<{ result: T; warnings: readonly string[] }>;
  cleanup(): Promise<void>;
}

export async function createImportFixture(db: Knex, options: { username?: string; quota?: number } = {}): Promise<ImportFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pis-import-'));
  const created = await createUser(db, { username: options.username ?? `student${Math.floor(Math.random() * 1e9)}` });
  if (options.quota !== undefined) await db('users').where({ id: created.id }).update({ quota: options.quota });
  const blobs = new BlobStore(path.join(dir, 'files'));
  return {
    db,
    user: created,
    blobs,
    dir,
    async run(fn, o = {}) {
      const user = (await findUserById(db, created.id))!;
      const session = blobs.session();
      const trace = createImportTrace(silentLogger, o.loglevel ?? 0, {});
      try {
        const result = await db.transaction((trx) =>
          fn({
            trx,
            user,
            importId: o.importId ?? null,
            peerName: o.peerName ?? 'Test Moodle',
            now: new Date(),
            blobs,
            blobSession: session,
            sitePath: o.sitePath ?? '/',
            allowedExtensions: o.allowedExtensions ?? [],
            trace,
          }),
        );
        return { result, warnings: trace.warnings };
      } catch (err) {
        await blobs.discard(db, session);
        throw err;
      }
    },
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
