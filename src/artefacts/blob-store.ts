import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';

// First key of our advisory locks on blobs ("BLOB"), so they cannot meet other modules' locks.
const BLOB_LOCK = 0x424c4f42;

export interface StoredBlob {
  readonly hash: string;
  readonly size: number;
}

/**
 * The content-addressed file store under DATA_DIR/files: one copy per distinct content, named by its
 * sha256, recorded in `blobs`. Imports are all-or-nothing, so a blob written by an import that rolls back
 * must go again unless another import committed the same content meanwhile; `put` and `discard` take the
 * same per-hash advisory lock, so `discard` always sees whether a committed row still needs the file.
 */
export class BlobStore {
  constructor(readonly root: string) {}

  pathOf(hash: string): string {
    return path.join(this.root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  /**
   * Starts a unit of work whose newly written blobs `discard` can remove after a rollback. With a
   * `journal` file, every blob is noted there before it is written, so `recover` can still find them if
   * the process dies before the transaction ends (the caller keeps the journal until the next attempt).
   */
  session(journal?: string): BlobSession {
    return { written: new Set(), journal };
  }

  /**
   * Stores the content of `source` inside `trx` (the lock is held until it ends); `content` is its sha256 and
   * size when the caller has them already (extraction computes them). The file is hard-linked
   * when possible: an import's extracted files are already on the same disk, and a 1 GB package would
   * otherwise be copied once more.
   */
  async put(trx: Knex.Transaction, session: BlobSession, source: string, content?: StoredBlob): Promise<StoredBlob> {
    const { hash, size } = content ?? (await hashFile(source));
    await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [BLOB_LOCK, hash]);
    const target = this.pathOf(hash);
    const recorded = await trx('blobs').where({ hash }).first();
    if (recorded && (await exists(target))) return { hash, size };
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    if (session.journal) await fs.appendFile(session.journal, `${hash}\n`, { mode: 0o600 });
    const temp = `${target}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.link(source, temp).catch(() => fs.copyFile(source, temp));
      await fs.rename(temp, target);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    if (!recorded) {
      await trx('blobs').insert({ hash, size, created_at: new Date() }).onConflict('hash').ignore();
      session.written.add(hash);
    }
    return { hash, size };
  }

  /** After the session's transaction rolled back: removes the files no committed `blobs` row needs. */
  async discard(db: Knex, session: BlobSession): Promise<void> {
    await this.removeUnreferenced(db, session.written);
    session.written.clear();
  }

  /** After a crash: the same for every blob a dead session's journal names. A missing journal is fine. */
  async recover(db: Knex, journal: string): Promise<void> {
    const text = await fs.readFile(journal, 'utf8').catch(() => '');
    await this.removeUnreferenced(db, new Set(text.split('\n').filter((h) => /^[0-9a-f]{64}$/.test(h))));
  }

  private async removeUnreferenced(db: Knex, hashes: ReadonlySet<string>): Promise<void> {
    for (const hash of hashes) {
      await db.transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [BLOB_LOCK, hash]);
        if (!(await trx('blobs').where({ hash }).first())) await fs.rm(this.pathOf(hash), { force: true });
      });
    }
  }
}

export interface BlobSession {
  readonly written: Set<string>;
  readonly journal: string | undefined;
}

export async function hashFile(file: string, algorithm = 'sha256'): Promise<{ hash: string; size: number }> {
  const digest = crypto.createHash(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    digest.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: digest.digest('hex'), size };
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
