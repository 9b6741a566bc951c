import fs from 'node:fs/promises';
import { FaultCode, MnetFault, toFault } from '../errors.js';
import { recordEvent } from './events.js';
import { cachedZipPath, failureMessage, removeTempDir, runImport, type ImportDeps } from './process.js';
import { cancelItem, claimNextItem, recordFailure, requeueItem, retryAt, takeExpiredItems, writeHistory, type QueueItem } from './queue.js';

/**
 * An admin's "cancel" (§2.6): the row goes, recorded as cancelled, with its cached zip and temporary files.
 * `by` names the admin in the transfer's event log.
 */
export async function cancelTransfer(deps: ImportDeps, id: number, by = 'an administrator'): Promise<boolean> {
  const item = await cancelItem(deps.db, id, deps.now());
  if (!item) return false;
  await recordEvent(deps, id, 'warn', `Cancelled by ${by}`);
  await fs.rm(cachedZipPath(deps, item), { force: true });
  await removeTempDir(deps, item);
  return true;
}

/** An admin's "retry now": a queued or failed transfer is due at once with its attempts reset (requeueItem). */
export async function retryTransfer(deps: ImportDeps, id: number, by = 'an administrator'): Promise<boolean> {
  if (!(await requeueItem(deps.db, id))) return false;
  await recordEvent(deps, id, 'info', `Requeued by ${by}: due now, attempts reset`);
  return true;
}

export interface QueueRunSummary {
  expired: number;
  imported: number;
  /** Failed this run and queued again with backoff. */
  retrying: number;
  /** Failed for good this run (too many attempts, or a permanent reason). */
  failed: number;
}

export interface QueueRunEvents {
  /** A claimed item starts (for the CLI's progress bar). */
  onStart?(item: QueueItem): void;
  onProgress?(item: QueueItem, bytes: number): void;
  onFinish?(item: QueueItem, outcome: 'imported' | 'retrying' | 'failed', message?: string): void;
}

/**
 * `process_incoming_content_queue` (Mahara's import_process_queue, portfolio-import.md §2.4): expired rows
 * go first, then up to cronBatch due rows are claimed one at a time (SKIP LOCKED) and imported. A failure is
 * recorded on its row and never stops the run.
 */
export async function processIncomingContentQueue(deps: ImportDeps, events: QueueRunEvents = {}): Promise<QueueRunSummary> {
  const summary: QueueRunSummary = { expired: 0, imported: 0, retrying: 0, failed: 0 };
  const { portfolio } = deps.config;
  for (const item of await takeExpiredItems(deps.db, deps.now(), portfolio.staleClaimSeconds)) {
    summary.expired++;
    await fs.rm(cachedZipPath(deps, item), { force: true });
    await removeTempDir(deps, item);
    // A row already marked failed was recorded then; expiry only removes it.
    if (item.state !== 'failed') await writeHistory(deps.db, item, { outcome: 'expired', message: 'Expired before it was imported', now: deps.now() });
    await recordEvent(deps, item.id, 'warn', item.state === 'failed' ? 'Expired after it had failed; removed from the queue' : 'Expired before it was imported');
    deps.log.debug('deleting expired import record', { queueId: item.id });
  }
  for (let n = 0; n < portfolio.cronBatch; n++) {
    const item = await claimNextItem(deps.db, deps.workerId, deps.now(), portfolio.staleClaimSeconds);
    if (!item) break;
    events.onStart?.(item);
    try {
      await runImport(deps, item, { onProgress: (bytes) => events.onProgress?.(item, bytes) });
      summary.imported++;
      events.onFinish?.(item, 'imported');
    } catch (err) {
      const message = failureMessage(err);
      const permanent = err instanceof MnetFault && err.code === FaultCode.ImportTargetGone;
      const now = deps.now();
      const state = await recordFailure(deps.db, item, { message, permanent, maxAttempts: portfolio.maxAttempts, now, workerId: deps.workerId });
      if (state === undefined) {
        deps.log.warn('a portfolio import failed after another worker took it over; left to that worker', { queueId: item.id, error: toFault(err) });
        continue;
      }
      // After the import's transaction has rolled back: these events are on the root connection and stay.
      await recordEvent(deps, item.id, 'error', `Attempt ${item.attempts} failed: ${message}`);
      if (state === 'queued') await recordEvent(deps, item.id, 'info', `Retry scheduled at ${retryAt(item.attempts, now).toISOString()}`);
      else await recordEvent(deps, item.id, 'error', permanent ? 'Marked failed: this cannot be mended by retrying' : `Marked failed after ${item.attempts} attempt${item.attempts === 1 ? '' : 's'}`);
      if (state === 'failed') {
        summary.failed++;
        await writeHistory(deps.db, item, { outcome: 'failed', message, now: deps.now() });
      } else summary.retrying++;
      deps.log.warn('a portfolio import failed', { queueId: item.id, userId: item.userId, peer: item.host ?? 'local', attempt: item.attempts, state, error: toFault(err) });
      events.onFinish?.(item, state === 'failed' ? 'failed' : 'retrying', message);
    }
  }
  return summary;
}
