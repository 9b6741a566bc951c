import type { Knex } from 'knex';
import { deleteEventsOfPurgedHistory } from './events.js';
import type { Outcome, Transport } from './queue.js';

/**
 * Reading and purging `import_history` (portfolio-import.md §2.6) for the admin's queue pages; the rows are
 * written by src/portfolio/queue.ts when a transfer finishes.
 */

/** A row of `import_history`: what became of one transfer. */
export interface HistoryRecord {
  readonly id: number;
  readonly queueId: number;
  readonly host: string | null;
  readonly token: string | null;
  readonly userId: number;
  readonly format: string | null;
  readonly transport: Transport;
  readonly outcome: Outcome;
  readonly artefacts: number;
  readonly skipped: number;
  readonly message: string | null;
  readonly querystring: string | null;
  readonly createdAt: Date;
  readonly finishedAt: Date;
}

interface HistoryRow {
  id: number;
  queue_id: number;
  host: string | null;
  token: string | null;
  usr: number;
  format: string | null;
  transport: Transport;
  outcome: Outcome;
  artefacts: number;
  skipped: number;
  message: string | null;
  querystring: string | null;
  ctime: Date;
  finished_at: Date;
}

function toHistoryRecord(row: HistoryRow): HistoryRecord {
  return {
    id: row.id,
    queueId: row.queue_id,
    host: row.host,
    token: row.token,
    userId: row.usr,
    format: row.format,
    transport: row.transport,
    outcome: row.outcome,
    artefacts: row.artefacts,
    skipped: row.skipped,
    message: row.message,
    querystring: row.querystring,
    createdAt: new Date(row.ctime),
    finishedAt: new Date(row.finished_at),
  };
}

export interface HistoryFilter {
  outcome?: Outcome;
  host?: string;
  userId?: number;
  /** Only transfers finished after this instant (the admin dashboard's last 24 hours). */
  finishedAfter?: Date;
}

function filteredHistory(db: Knex, filter: HistoryFilter): Knex.QueryBuilder {
  const query = db('import_history');
  if (filter.outcome) query.where({ outcome: filter.outcome });
  if (filter.host) query.where({ host: filter.host });
  if (filter.userId) query.where({ usr: filter.userId });
  if (filter.finishedAfter) query.where('finished_at', '>', filter.finishedAfter);
  return query;
}

/** The most recently finished first, at most `limit`. */
export async function listHistory(db: Knex, filter: HistoryFilter, limit: number): Promise<HistoryRecord[]> {
  const rows = (await filteredHistory(db, filter).orderBy('id', 'desc').limit(limit)) as HistoryRow[];
  return rows.map(toHistoryRecord);
}

export async function countHistoryByOutcome(db: Knex, filter: HistoryFilter): Promise<Map<Outcome, number>> {
  const rows = (await filteredHistory(db, filter).select('outcome').count({ n: '*' }).groupBy('outcome')) as Array<{ outcome: Outcome; n: string | number }>;
  return new Map(rows.map((r) => [r.outcome, Number(r.n)]));
}

export async function findHistoryRecord(db: Knex, id: number): Promise<HistoryRecord | undefined> {
  const row = (await db('import_history').where({ id }).first()) as HistoryRow | undefined;
  return row && toHistoryRecord(row);
}

/** The last thing that became of a queue item, once its row is gone. */
export async function findLatestHistoryOf(db: Knex, queueId: number): Promise<HistoryRecord | undefined> {
  const row = (await db('import_history').where({ queue_id: queueId }).orderBy('id', 'desc').first()) as HistoryRow | undefined;
  return row && toHistoryRecord(row);
}

/**
 * An admin's "purge finished transfers": history rows finished before `finishedBefore` (all when undefined)
 * and the events of those transfers. A repeated content_ready for a purged token is then "not found".
 */
export async function purgeHistory(db: Knex, finishedBefore: Date | undefined): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await deleteEventsOfPurgedHistory(trx, finishedBefore);
    const query = trx('import_history');
    if (finishedBefore) query.where('finished_at', '<', finishedBefore);
    // The count through `returning`: knex-pglite answers a bare delete with its raw result, not a number.
    return (await query.delete().returning('id')).length;
  });
}
