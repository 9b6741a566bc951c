import type { Knex } from 'knex';
import type { Logger } from '../log.js';

/**
 * The per-transfer event log (`import_events`, migration 0009): one short line for each real step of a
 * transfer, shown on the admin's queue pages. Mahara's cron only logs a failure with log_debug; here an admin
 * sees when the intent came, what was fetched, why an attempt failed and what happens next.
 *
 * Writing an event is one insert on the root connection, never inside an import's transaction: a failure's
 * event must survive that transaction's rollback, and on PGlite's single connection a write beside an open
 * transaction would wait for it. A failed write is logged and never breaks the import it describes.
 */
export type EventLevel = 'info' | 'warn' | 'error';

export interface ImportEvent {
  readonly id: number;
  readonly queueId: number;
  readonly at: Date;
  readonly level: EventLevel;
  readonly message: string;
}

/** What recording needs: ImportDeps has all of it. */
export interface EventSink {
  readonly db: Knex;
  readonly log: Logger;
  readonly now: () => Date;
}

/** Longer texts (an error with a stack of causes) are cut: the full one is on the queue row or in the log. */
const MAX_MESSAGE_CHARS = 2000;

export async function recordEvent(sink: EventSink, queueId: number, level: EventLevel, message: string): Promise<void> {
  try {
    await sink.db('import_events').insert({ queue_id: queueId, at: sink.now(), level, message: message.slice(0, MAX_MESSAGE_CHARS) });
  } catch (err) {
    sink.log.warn('could not record an import event', { queueId, level, event: message, error: err });
  }
}

/** Oldest first: the story of one transfer. */
export async function listEvents(db: Knex, queueId: number): Promise<ImportEvent[]> {
  const rows = (await db('import_events').where({ queue_id: queueId }).orderBy('id')) as Array<{
    id: number;
    queue_id: number;
    at: Date;
    level: EventLevel;
    message: string;
  }>;
  return rows.map((r) => ({ id: r.id, queueId: r.queue_id, at: new Date(r.at), level: r.level, message: r.message }));
}

/**
 * Before a purge deletes the history rows finished before `finishedBefore` (all when undefined), in its
 * transaction: the events of those transfers go too, unless the transfer is still in the queue or has a
 * history row the purge keeps (a failed attempt recorded long ago, then retried to completion recently).
 * Written as one statement with the purge's condition, so purging a long history needs no list of ids.
 */
export async function deleteEventsOfPurgedHistory(trx: Knex, finishedBefore: Date | undefined): Promise<void> {
  const purged = trx('import_history').select('queue_id');
  const query = trx('import_events')
    .whereIn('queue_id', finishedBefore ? purged.where('finished_at', '<', finishedBefore) : purged)
    .whereNotExists((q) => q.select(trx.raw('1')).from('import_queue').whereRaw('import_queue.id = import_events.queue_id'));
  if (finishedBefore) {
    query.whereNotExists((q) =>
      q.select(trx.raw('1')).from('import_history').whereRaw('import_history.queue_id = import_events.queue_id').andWhere('finished_at', '>=', finishedBefore),
    );
  }
  await query.delete();
}
