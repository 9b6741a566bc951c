import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUser } from '../../../src/identity/users.js';
import { silentLogger, type Logger } from '../../../src/log.js';
import { savePeer } from '../../../src/mnet/peers.js';
import { listEvents, recordEvent } from '../../../src/portfolio/events.js';
import { purgeHistory } from '../../../src/portfolio/history.js';
import { createIntent, markQueued, recordSubmission, writeHistory, type QueueItem } from '../../../src/portfolio/queue.js';
import { cancelTransfer, processIncomingContentQueue, retryTransfer } from '../../../src/portfolio/run-queue.js';
import type { Services } from '../../../src/services.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MOODLE_CERT } from '../../helpers/fixtures.js';
import { createTestServices } from '../../helpers/services.js';

/** The per-transfer event log (src/portfolio/events.ts) and purging it with the history. */
describe.each(engines)('import events ($name)', (engine) => {
  let t: TestDb;
  let services: Services;
  let userId: number;
  const host = 'http://moodle.test';
  const now = new Date('2026-11-22T10:00:00Z');
  const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000);
  const sink = () => ({ db: t.db, log: silentLogger, now: () => now });

  beforeAll(async () => {
    t = await engine.create();
    await savePeer(t.db, { wwwroot: host, name: 'Moodle', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') }, now);
    userId = (await createUser(t.db, { username: 'amelia' })).id;
    services = await createTestServices({ db: t.db, now: () => now });
  });
  afterAll(async () => {
    await services?.close();
    await t?.drop();
  });
  beforeEach(async () => {
    await t.db('import_queue').delete();
    await t.db('import_history').delete();
    await t.db('import_events').delete();
  });

  /** A transfer with one event and history rows finished at the given times; its queue row stays only if `keepRow`. */
  async function transfer(finished: Date[], keepRow = false): Promise<QueueItem> {
    const item = await createIntent(t.db, { host, userId, mustQueue: false, now: daysAgo(400) });
    await recordEvent(sink(), item.id, 'info', `event of ${item.id}`);
    for (const at of finished) await writeHistory(t.db, item, { outcome: 'failed', now: at });
    if (!keepRow) await t.db('import_queue').where({ id: item.id }).delete();
    return item;
  }

  it('records events in order, with their level and time, and cuts very long messages', async () => {
    await recordEvent(sink(), 7, 'info', 'first');
    await recordEvent(sink(), 7, 'error', 'x'.repeat(5000));
    await recordEvent(sink(), 8, 'warn', 'other transfer');
    const events = await listEvents(t.db, 7);
    expect(events.map((e) => [e.level, e.message.length])).toEqual([
      ['info', 5],
      ['error', 2000],
    ]);
    expect(events[0]).toMatchObject({ queueId: 7, at: now, message: 'first' });
  });

  it('a failed event write is logged, never thrown', async () => {
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) };
    const gone = () => {
      throw new Error('database gone');
    };
    const broken = { db: gone as unknown as Knex, log, now: () => now };
    await expect(recordEvent(broken, 1, 'info', 'lost')).resolves.toBeUndefined();
    expect(warnings).toEqual(['could not record an import event']);
  });

  it('purging old history removes the events of those transfers only', async () => {
    const old = await transfer([daysAgo(100)]);
    const recent = await transfer([daysAgo(1)]);
    const oldThenRecent = await transfer([daysAgo(100), daysAgo(1)]);
    const oldButQueued = await transfer([daysAgo(100)], true);
    expect(await purgeHistory(t.db, daysAgo(30))).toBe(3);
    expect(await t.db('import_events').orderBy('queue_id').pluck('queue_id')).toEqual([recent.id, oldThenRecent.id, oldButQueued.id]);
    expect(await t.db('import_history').orderBy('queue_id').pluck('queue_id')).toEqual([recent.id, oldThenRecent.id]);
    expect(await listEvents(t.db, old.id)).toEqual([]);
  });

  it('purging all history removes every finished transfer\'s events, not those of transfers still queued', async () => {
    await transfer([daysAgo(100)]);
    await transfer([daysAgo(1)]);
    const queued = await transfer([daysAgo(2)], true);
    expect(await purgeHistory(t.db, undefined)).toBe(3);
    expect(await t.db('import_history')).toHaveLength(0);
    expect(await t.db('import_events').pluck('queue_id')).toEqual([queued.id]);
  });

  it('records the admin\'s retry and cancel, and an expiry, on the transfer', async () => {
    const data = { filesmanifest: {}, zipfilesha1: 'a'.repeat(40), zipfilesize: 10, totalsize: 10 };
    const queued = async (created: Date) => {
      const item = await createIntent(t.db, { host, userId, mustQueue: false, now: created });
      await recordSubmission(t.db, item.id, { format: 'file', importData: data, loglevel: null, transport: 'mnet', location: null });
      await markQueued(t.db, item.id);
      return item.id;
    };
    const retried = await queued(now);
    expect(await retryTransfer(services.imports, retried, 'admin root')).toBe(true);
    expect(await cancelTransfer(services.imports, retried, 'admin root')).toBe(true);
    expect((await listEvents(t.db, retried)).map((e) => e.message)).toEqual(['Requeued by admin root: due now, attempts reset', 'Cancelled by admin root']);
    expect(await retryTransfer(services.imports, retried)).toBe(false);

    const expired = await queued(daysAgo(2));
    expect(await processIncomingContentQueue(services.imports)).toMatchObject({ expired: 1 });
    expect(await listEvents(t.db, expired)).toMatchObject([{ level: 'warn', message: 'Expired before it was imported' }]);
  });

});
