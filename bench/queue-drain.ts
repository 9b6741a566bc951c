/**
 * npm run bench:queue — small queued imports drained from PostgreSQL by two workers at once, beside one
 * worker alone on the same kind of items in the same run (the baseline), and a check that no item was
 * imported twice and none was lost.
 *
 * Each worker is a whole set of services with its own connection pool, as a second instance of the
 * service would be. A fake Moodle on loopback serves fetch_file for every token (signed and encrypted like
 * Moodle, so each item costs a real MNet round trip); every item is a `file` export of one small file.
 *
 * Needs PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL (an admin connection; a scratch database is
 * created and dropped). BENCH_ITEMS (default 10000) sets the two-worker run; the baseline takes a fifth.
 */
import crypto from 'node:crypto';
import { createDb } from '../src/db/knex.js';
import { findOrCreateRemoteUser } from '../src/identity/remote-users.js';
import { updatePeerIdentitySettings } from '../src/identity/peer-settings.js';
import { createIntent, markQueued, recordSubmission } from '../src/portfolio/queue.js';
import { processIncomingContentQueue } from '../src/portfolio/run-queue.js';
import type { Services } from '../src/services.js';
import { createPostgresDatabase } from '../test/helpers/db.js';
import { FakePeer, registerFakePeer } from '../test/helpers/fake-peer.js';
import { importDataFor, MoodleExports } from '../test/helpers/moodle-exports.js';
import { createTestServices } from '../test/helpers/services.js';
import { buildZip } from '../test/helpers/zip-writer.js';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 10_000);
const BASELINE_ITEMS = Math.max(Math.floor(ITEMS / 5), 1);

async function main(): Promise<void> {
  // Only when set: assigning undefined to process.env stores the string "undefined".
  if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL ??= process.env.BENCH_DATABASE_URL;
  const database = await createPostgresDatabase();
  if (!database) throw new Error('set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL admin connection string');
  const moodle = await FakePeer.start();
  const pools = [createDb({ databaseUrl: database.url }), createDb({ databaseUrl: database.url })];
  const workers: Services[] = [];
  try {
    const env = { PORTFOLIO_CRON: 'off', PORTFOLIO_CRON_BATCH: '10000' };
    for (const db of pools) workers.push(await createTestServices({ db, env }));
    const db = pools[0]!;
    // Both workers share one site key, as two instances on one database do.
    const peer = await registerFakePeer(db, moodle, { wwwroot: workers[0]!.config.wwwroot, certificatePem: (await workers[0]!.keys.current()).certificatePem }, { name: 'Bench Moodle' });
    await updatePeerIdentitySettings(db, peer.id, { weImportContent: true });
    const exports = new MoodleExports(moodle);
    const { user } = await findOrCreateRemoteUser(db, peer, { username: 'bench', firstname: 'B', lastname: 'Ench', email: 'b@example.test' }, { create: true, updateProfile: false });
    await db('users').where({ id: user.id }).update({ quota: 2 ** 40 });

    async function enqueue(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        const zip = buildZip([{ name: `note-${crypto.randomUUID()}.txt`, data: `item ${i} ${crypto.randomUUID()}` }]);
        const item = await createIntent(db, { host: peer.wwwroot, userId: user.id, mustQueue: false, now: new Date() });
        const data = await importDataFor(zip);
        await recordSubmission(db, item.id, { format: 'file', importData: data as never, loglevel: null, transport: 'mnet', location: null });
        await markQueued(db, item.id);
        exports.offer(item.token, zip);
      }
    }

    async function drain(active: Services[]): Promise<{ seconds: number; imported: number }> {
      const started = process.hrtime.bigint();
      // Each worker runs the queue until a run finds nothing to do, as repeated cron runs would.
      const counts = await Promise.all(
        active.map(async (w) => {
          let imported = 0;
          for (;;) {
            const summary = await processIncomingContentQueue(w.imports);
            imported += summary.imported;
            if (summary.imported + summary.retrying + summary.failed === 0) return imported;
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return { seconds, imported: counts.reduce((n, c) => n + c, 0) };
    }

    await enqueue(BASELINE_ITEMS);
    const one = await drain([workers[0]!]);
    await enqueue(ITEMS);
    const fetchesBefore = exports.fetches.length;
    const two = await drain(workers);

    const histories = Number((await db('import_history').where({ outcome: 'complete' }).count({ n: '*' }).first())!.n);
    const duplicates = Number(
      (await db.raw(`select count(*) as n from (select import_id from artefacts where artefacttype <> 'folder' group by import_id having count(*) > 1) d`)).rows[0].n,
    );
    const fetched = exports.fetches.slice(fetchesBefore);
    const fetchedTwice = fetched.length - new Set(fetched).size;
    const left = Number((await db('import_queue').count({ n: '*' }).first())!.n);

    const rate = (r: { seconds: number; imported: number }) => r.imported / r.seconds;
    console.log(`queue drain on PostgreSQL, ${ITEMS} small file imports, each fetched over MNet from a fake Moodle`);
    console.log(`  one worker  (baseline): ${one.imported} items in ${one.seconds.toFixed(1)} s = ${rate(one).toFixed(0)} items/s`);
    console.log(`  two workers           : ${two.imported} items in ${two.seconds.toFixed(1)} s = ${rate(two).toFixed(0)} items/s`);
    console.log(`  ratio two/one         : ${(rate(two) / rate(one)).toFixed(2)}`);
    console.log(`  imported twice: ${duplicates}; fetched twice: ${fetchedTwice}; finished: ${histories}/${ITEMS + BASELINE_ITEMS}; left in queue: ${left}`);
    if (duplicates > 0 || fetchedTwice > 0 || left > 0 || histories !== ITEMS + BASELINE_ITEMS) process.exitCode = 1;
  } finally {
    for (const w of workers) await w.close();
    for (const db of pools) await db.destroy();
    await moodle.stop();
    await database.drop();
  }
}

await main();
