import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUser } from '../../../src/identity/users.js';
import { savePeer } from '../../../src/mnet/peers.js';
import {
  backoffMs,
  claimItem,
  claimNextItem,
  createIntent,
  markQueued,
  recordFailure,
  recordSubmission,
  takeExpiredItems,
  type QueueItem,
} from '../../../src/portfolio/queue.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MOODLE_CERT } from '../../helpers/fixtures.js';

/** The queue repository (portfolio-import.md §2): tokens, claiming with SKIP LOCKED, backoff, expiry. */
describe.each(engines)('import queue ($name)', (engine) => {
  let t: TestDb;
  let userId: number;
  const host = 'http://moodle.test';
  const now = new Date('2026-11-22T10:00:00Z');
  const data = { filesmanifest: {}, zipfilesha1: 'a'.repeat(40), zipfilesize: 1, totalsize: 1 };

  beforeAll(async () => {
    t = await engine.create();
    await savePeer(t.db, { wwwroot: host, name: 'Moodle', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') }, now);
    userId = (await createUser(t.db, { username: 'amelia' })).id;
  });
  afterAll(() => t.drop());
  beforeEach(async () => {
    await t.db('import_queue').delete();
  });

  async function queued(n: number): Promise<QueueItem[]> {
    const items: QueueItem[] = [];
    for (let i = 0; i < n; i++) {
      const item = await createIntent(t.db, { host, userId, mustQueue: false, now });
      await recordSubmission(t.db, item.id, { format: 'file', importData: data, loglevel: null, transport: 'mnet', location: null });
      await markQueued(t.db, item.id);
      items.push(item);
    }
    return items;
  }

  it('an intent has a 40-hex token, expires in 24 h and waits (ready 0, format null)', async () => {
    const item = await createIntent(t.db, { host, userId, mustQueue: false, now });
    expect(item.token).toMatch(/^[0-9a-f]{40}$/);
    expect(item.expiresAt.getTime() - now.getTime()).toBe(86_400_000);
    expect(await t.db('import_queue').where({ id: item.id }).first()).toMatchObject({ ready: 0, format: null, host, state: 'intended' });
  });

  it('claims take due rows oldest first, one worker each; intended rows are never taken', async () => {
    await createIntent(t.db, { host, userId, mustQueue: false, now });
    const [a, b] = await queued(2);
    const first = await claimNextItem(t.db, 'w1', now, 3600);
    const second = await claimNextItem(t.db, 'w2', now, 3600);
    expect([first?.id, second?.id]).toEqual([a!.id, b!.id]);
    expect(first).toMatchObject({ state: 'processing', lockedBy: 'w1', attempts: 1 });
    expect(await claimNextItem(t.db, 'w3', now, 3600)).toBeUndefined();
  });

  it('a failure backs off 5, 10, 20, 40 min and ends as failed after maxAttempts', async () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a) / 60_000)).toEqual([5, 10, 20, 40]);
    await queued(1);
    let clock = now;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const item = (await claimNextItem(t.db, 'w', clock, 3600))!;
      expect(item.attempts).toBe(attempt);
      const state = await recordFailure(t.db, item, { message: `boom ${attempt}`, permanent: false, maxAttempts: 3, now: clock, workerId: 'w' });
      expect(state).toBe(attempt < 3 ? 'queued' : 'failed');
      // Not due before its backoff has passed.
      expect(await claimNextItem(t.db, 'w', new Date(clock.getTime() + backoffMs(attempt) - 1000), 3600)).toBeUndefined();
      clock = new Date(clock.getTime() + backoffMs(attempt));
    }
    expect(await claimNextItem(t.db, 'w', new Date(clock.getTime() + 86_400_000 / 2), 3600)).toBeUndefined();
    expect(await t.db('import_queue').first()).toMatchObject({ state: 'failed', attempts: 3, lasterror: 'boom 3' });
  });

  it('a claim whose worker went silent is taken over after the stale time', async () => {
    const [item] = await queued(1);
    await claimNextItem(t.db, 'dead', now, 3600);
    expect(await claimNextItem(t.db, 'alive', new Date(now.getTime() + 3599_000), 3600)).toBeUndefined();
    const taken = await claimNextItem(t.db, 'alive', new Date(now.getTime() + 3601_000), 3600);
    expect(taken).toMatchObject({ id: item!.id, lockedBy: 'alive', attempts: 2 });
    // The worker thought dead comes back failing: the row stays with its successor.
    const late = await recordFailure(t.db, { ...taken!, attempts: 1 }, { message: 'late', permanent: true, maxAttempts: 5, now, workerId: 'dead' });
    expect(late).toBeUndefined();
    expect(await t.db('import_queue').where({ id: item!.id }).first()).toMatchObject({ state: 'processing', locked_by: 'alive', lasterror: null });
  });

  it('an immediate import whose worker died is never taken by the queue: Moodle was told it failed', async () => {
    const item = await createIntent(t.db, { host, userId, mustQueue: false, now });
    await recordSubmission(t.db, item.id, { format: 'file', importData: data, loglevel: null, transport: 'mnet', location: null });
    await claimItem(t.db, item.id, 'dead', now);
    expect(await claimNextItem(t.db, 'alive', new Date(now.getTime() + 7200_000), 3600)).toBeUndefined();
  });

  it('expired rows are taken whatever their state, except one a live worker holds', async () => {
    await createIntent(t.db, { host, userId, mustQueue: false, now });
    const [held] = await queued(2);
    await claimNextItem(t.db, 'w', new Date(now.getTime() + 86_000_000), 3600);
    const expired = await takeExpiredItems(t.db, new Date(now.getTime() + 86_400_000), 3600);
    expect(expired).toHaveLength(2);
    expect(expired.map((e) => e.id)).not.toContain(held!.id);
    expect(await t.db('import_queue')).toHaveLength(1);
  });

  it.runIf(engine.name === 'postgresql')('two workers draining concurrently never take the same row', async () => {
    const items = await queued(200);
    const taken: number[] = [];
    const worker = async (name: string) => {
      for (;;) {
        const item = await claimNextItem(t.db, name, now, 3600);
        if (!item) return;
        taken.push(item.id);
        await t.db('import_queue').where({ id: item.id }).delete();
      }
    };
    await Promise.all([worker('a'), worker('b'), worker('c')]);
    expect(taken.sort((x, y) => x - y)).toEqual(items.map((i) => i.id));
  });
});
