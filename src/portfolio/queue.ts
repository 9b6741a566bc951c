import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { ImportData } from './import-data.js';

/**
 * The import queue repository (portfolio-import.md §2): intents, their submission, claiming with
 * SKIP LOCKED (graphile-worker's getJobs), failure with backoff, and the audit of finished transfers.
 */
export type QueueState = 'intended' | 'queued' | 'processing' | 'failed';
export type Transport = 'mnet' | 'http' | 'local';
export type Outcome = 'complete' | 'failed' | 'expired' | 'cancelled';

export interface QueueItem {
  readonly id: number;
  /** The peer's wwwroot; null for a local upload. */
  readonly host: string | null;
  readonly userId: number;
  /** True when the peer was told 'queue' (must not wait). */
  readonly mustQueue: boolean;
  readonly ready: boolean;
  readonly expiresAt: Date;
  /** As the peer sent it (`leap2a`, `file`, …). */
  readonly format: string | null;
  readonly importData: ImportData | null;
  readonly token: string;
  readonly loglevel: number | null;
  readonly createdAt: Date;
  readonly transport: Transport;
  readonly location: string | null;
  readonly state: QueueState;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastAttempt: Date | null;
  readonly runAfter: Date | null;
  readonly lockedBy: string | null;
  /** When the worker last showed it is alive (claim, progress). */
  readonly lockedAt: Date | null;
  readonly progressBytes: number;
  readonly zipPath: string | null;
  readonly zipSha1: string | null;
}

interface QueueRow {
  id: number;
  host: string | null;
  usr: number;
  queue: number;
  ready: number;
  expirytime: Date;
  format: string | null;
  data: string | null;
  token: string;
  loglevel: number | null;
  ctime: Date;
  transport: Transport;
  location: string | null;
  state: QueueState;
  attempts: number;
  lasterror: string | null;
  lastattempt: Date | null;
  run_after: Date | null;
  locked_by: string | null;
  locked_at: Date | null;
  progress_bytes: string | number;
  zippath: string | null;
  zipsha1: string | null;
}

function toItem(row: QueueRow): QueueItem {
  return {
    id: row.id,
    host: row.host,
    userId: row.usr,
    mustQueue: row.queue === 1,
    ready: row.ready === 1,
    expiresAt: new Date(row.expirytime),
    format: row.format,
    importData: row.data === null ? null : (JSON.parse(row.data) as ImportData),
    token: row.token,
    loglevel: row.loglevel,
    createdAt: new Date(row.ctime),
    transport: row.transport,
    location: row.location,
    state: row.state,
    attempts: row.attempts,
    lastError: row.lasterror,
    lastAttempt: row.lastattempt && new Date(row.lastattempt),
    runAfter: row.run_after && new Date(row.run_after),
    lockedBy: row.locked_by,
    lockedAt: row.locked_at && new Date(row.locked_at),
    progressBytes: Number(row.progress_bytes),
    zipPath: row.zippath,
    zipSha1: row.zipsha1,
  };
}

/** §2.2: fixed 24 h, never extended. */
export const INTENT_LIFETIME_MS = 86_400_000;

/** §2.2: 20 CSPRNG bytes in Mahara's token shape (40 lowercase hex); the unique index catches a collision. */
export async function createIntent(
  db: Knex,
  intent: { host: string | null; userId: number; mustQueue: boolean; now: Date; transport?: Transport },
): Promise<QueueItem> {
  for (;;) {
    const token = crypto.randomBytes(20).toString('hex');
    const [row] = await db('import_queue')
      .insert({
        host: intent.host,
        usr: intent.userId,
        queue: intent.mustQueue ? 1 : 0,
        ready: 0,
        expirytime: new Date(intent.now.getTime() + INTENT_LIFETIME_MS),
        token,
        ctime: intent.now,
        transport: intent.transport ?? (intent.host === null ? 'local' : 'mnet'),
      })
      .onConflict('token')
      .ignore()
      .returning('*');
    if (row) return toItem(row as QueueRow);
  }
}

/** Tokens are compared exactly and together with the host: another peer's token is "not found" (§2.2). */
export async function findIntent(db: Knex, host: string, handle: { token: string } | { id: number }, options: { forUpdate?: boolean } = {}): Promise<QueueItem | undefined> {
  const query = db<QueueRow>('import_queue').where({ host, ...handle }).first();
  const row = await (options.forUpdate ? query.forUpdate() : query);
  return row && toItem(row);
}

/** §1.3 steps 4–6: what content_ready brings, stored on the row. */
export async function recordSubmission(
  db: Knex,
  id: number,
  s: { format: string; importData: ImportData; loglevel: number | null; transport: Transport; location: string | null },
): Promise<void> {
  await db('import_queue').where({ id }).update({
    format: s.format,
    data: JSON.stringify(s.importData),
    loglevel: s.loglevel,
    transport: s.transport,
    location: s.location,
  });
}

/** The queued branch of §1.3 step 9: the cron takes it from here. */
export async function markQueued(db: Knex, id: number): Promise<void> {
  await db('import_queue').where({ id }).update({ ready: 1, state: 'queued', run_after: null });
}

/** Takes one row for this worker: the immediate path's own intent (already locked by its caller). */
export async function claimItem(db: Knex, id: number, workerId: string, now: Date): Promise<QueueItem> {
  const [row] = await db('import_queue')
    .where({ id })
    .update({ state: 'processing', locked_by: workerId, locked_at: now, attempts: db.raw('attempts + 1'), lastattempt: now, progress_bytes: 0 })
    .returning('*');
  return toItem(row as QueueRow);
}

/**
 * Claims the oldest queued row that is due, or a queued (`ready`) row in `processing` whose worker has not
 * been heard of for `staleSeconds` (it died mid-import: its transaction rolled back, so the row is whole).
 * An immediate import that died is not taken: Moodle was told it failed (§1.3 step 10), so it expires. SKIP LOCKED lets
 * several workers and instances run side by side without taking the same row (style.md, graphile).
 */
export async function claimNextItem(db: Knex, workerId: string, now: Date, staleSeconds: number): Promise<QueueItem | undefined> {
  const stale = new Date(now.getTime() - staleSeconds * 1000);
  const result = await db.raw(
    `with next as (
       select id from import_queue
        where expirytime > :now
          and ((state = 'queued' and (run_after is null or run_after <= :now))
               or (state = 'processing' and ready = 1 and locked_at < :stale))
        order by id
        limit 1
        for update skip locked)
     update import_queue q
        set state = 'processing', locked_by = :workerId, locked_at = :now, attempts = q.attempts + 1,
            lastattempt = :now, progress_bytes = 0
       from next
      where q.id = next.id
  returning q.*`,
    { now, stale, workerId },
  );
  const row = (result.rows as QueueRow[])[0];
  return row && toItem(row);
}

/** Keeps a claim fresh and tells admins how far a download got. */
export async function recordProgress(db: Knex, id: number, workerId: string, bytes: number, now: Date): Promise<void> {
  await db('import_queue').where({ id, locked_by: workerId }).update({ progress_bytes: bytes, locked_at: now });
}

/** §2.4: once fetched and verified, the zip is kept so a retry never needs Moodle's (deleted) copy. */
export async function recordCachedZip(db: Knex, id: number, zipPath: string, zipSha1: string): Promise<void> {
  await db('import_queue').where({ id }).update({ zippath: zipPath, zipsha1: zipSha1 });
}

/** Backoff of §2.4: next eligible after 5, 10, 20, 40 … minutes. */
export function backoffMs(attempts: number): number {
  return 5 * 60_000 * 2 ** Math.min(Math.max(attempts - 1, 0), 10);
}

/** When a row that failed its `attempts`-th attempt at `now` is due again. */
export function retryAt(attempts: number, now: Date): Date {
  return new Date(now.getTime() + backoffMs(attempts));
}

/**
 * A failed attempt: back in the queue with backoff and the reason, or `failed` when it was the last
 * allowed attempt or the failure is permanent. Returns the new state, or undefined when another worker
 * has taken the row over meanwhile (it is then left alone). `failed` rows stay until expiry.
 */
export async function recordFailure(
  db: Knex,
  item: QueueItem,
  failure: { message: string; permanent: boolean; maxAttempts: number; now: Date; workerId: string },
): Promise<QueueState | undefined> {
  const state: QueueState = failure.permanent || item.attempts >= failure.maxAttempts ? 'failed' : 'queued';
  // Only while the row is still ours: a worker taken for dead must not overwrite its successor's claim.
  const changed = await db('import_queue')
    .where({ id: item.id, locked_by: failure.workerId })
    .update({
      state,
      lasterror: failure.message,
      run_after: retryAt(item.attempts, failure.now),
      locked_by: null,
      locked_at: null,
    });
  return changed > 0 ? state : undefined;
}

/** The immediate path failed (§1.3 step 10): the row goes back to waiting for its expiry, reason kept. */
export async function releaseIntent(db: Knex, id: number, workerId: string, message: string): Promise<void> {
  await db('import_queue').where({ id, locked_by: workerId }).update({ state: 'intended', lasterror: message, locked_by: null, locked_at: null });
}

export interface HistoryEntry {
  outcome: Outcome;
  artefacts?: number;
  skipped?: number;
  message?: string | null;
  querystring?: string | null;
  now: Date;
}

/** Deletes the row and records what became of it, in the caller's transaction (§2.6). */
export async function finishItem(trx: Knex, item: QueueItem, entry: HistoryEntry): Promise<void> {
  await trx('import_queue').where({ id: item.id }).delete();
  await writeHistory(trx, item, entry);
}

export async function writeHistory(db: Knex, item: QueueItem, entry: HistoryEntry): Promise<void> {
  await db('import_history').insert({
    queue_id: item.id,
    host: item.host,
    token: item.token,
    usr: item.userId,
    format: item.format,
    transport: item.transport,
    outcome: entry.outcome,
    artefacts: entry.artefacts ?? 0,
    skipped: entry.skipped ?? 0,
    message: entry.message ?? null,
    querystring: entry.querystring ?? null,
    ctime: item.createdAt,
    finished_at: entry.now,
  });
}

/** The finished transfer a token belonged to, for a repeated content_ready (src/portfolio/rpc.ts). */
export async function findFinishedTransfer(db: Knex, host: string, token: string): Promise<{ outcome: Outcome; querystring: string | null } | undefined> {
  return db('import_history').where({ host, token }).orderBy('id', 'desc').first('outcome', 'querystring');
}

/** Rows past their expiry that no live worker holds: §2.4 deletes them whatever their state. */
export async function takeExpiredItems(db: Knex, now: Date, staleSeconds: number): Promise<QueueItem[]> {
  const stale = new Date(now.getTime() - staleSeconds * 1000);
  const rows = (await db('import_queue')
    .where('expirytime', '<=', now)
    .andWhere((q) => q.whereNot({ state: 'processing' }).orWhere('locked_at', '<', stale))
    .delete()
    .returning('*')) as QueueRow[];
  return rows.map(toItem);
}

export interface QueueFilter {
  state?: QueueState;
  host?: string;
  userId?: number;
}

export async function listQueueItems(db: Knex, filter: QueueFilter = {}): Promise<QueueItem[]> {
  const query = db<QueueRow>('import_queue').orderBy('id');
  if (filter.state) query.where({ state: filter.state });
  if (filter.host) query.where({ host: filter.host });
  if (filter.userId) query.where({ usr: filter.userId });
  return (await query).map(toItem);
}

/** How many transfers are in each state (the admin dashboard). */
export async function countQueueByState(db: Knex): Promise<Map<QueueState, number>> {
  const rows = (await db('import_queue').select('state').count({ n: '*' }).groupBy('state')) as Array<{ state: QueueState; n: string | number }>;
  return new Map(rows.map((r) => [r.state, Number(r.n)]));
}

export async function findQueueItem(db: Knex, id: number): Promise<QueueItem | undefined> {
  const row = await db<QueueRow>('import_queue').where({ id }).first();
  return row && toItem(row);
}

/** An admin's "retry now": attempts start again and the row is due at once (needs a cached zip or a live token). */
export async function requeueItem(db: Knex, id: number): Promise<boolean> {
  const changed = await db('import_queue')
    .where({ id })
    .whereIn('state', ['queued', 'failed'])
    .update({ state: 'queued', ready: 1, attempts: 0, run_after: null, locked_by: null, locked_at: null });
  return changed > 0;
}

/** An admin's "cancel": the row goes, recorded as cancelled. Refused while a worker holds it. */
export async function cancelItem(db: Knex, id: number, now: Date): Promise<QueueItem | undefined> {
  return db.transaction(async (trx) => {
    const row = await trx<QueueRow>('import_queue').where({ id }).whereNot({ state: 'processing' }).forUpdate().first();
    if (!row) return undefined;
    const item = toItem(row);
    await finishItem(trx, item, { outcome: 'cancelled', message: 'Cancelled by an administrator', now });
    return item;
  });
}
