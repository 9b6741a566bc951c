import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.js';
import { createUser } from '../../src/identity/users.js';
import { savePeer } from '../../src/mnet/peers.js';
import { cachedZipPath } from '../../src/portfolio/process.js';
import { claimNextItem, createIntent, markQueued, recordCachedZip, recordFailure, recordSubmission, type QueueItem } from '../../src/portfolio/queue.js';
import type { Services } from '../../src/services.js';
import { engines, type TestDb } from '../helpers/db.js';
import { MOODLE_CERT } from '../helpers/fixtures.js';
import { createTestServices } from '../helpers/services.js';

/** The admins' queue and plugin commands (portfolio-import.md §2.4, §2.6, §4.4), run in-process through runCommand. */
const HOST = 'https://lms.example.edu';
const DATA = { filesmanifest: {}, zipfilesha1: 'a'.repeat(40), zipfilesize: 10, totalsize: 10 };

describe.each(engines)('CLI queue and plugin commands ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  let userId: number;

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: 'http://mahara.test' } });
    await savePeer(testDb.db, { wwwroot: HOST, name: 'LMS', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') }, new Date());
    userId = (await createUser(testDb.db, { username: 'amelia' })).id;
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  beforeEach(async () => {
    await testDb.db('import_queue').delete();
    await testDb.db('import_plugin_priorities').delete();
  });

  async function run(...argv: string[]): Promise<{ code: number; output: string }> {
    const lines: string[] = [];
    const code = await runCommand(services, argv, (line) => lines.push(line));
    return { code, output: lines.join('\n') };
  }

  async function queued(): Promise<QueueItem> {
    const item = await createIntent(testDb.db, { host: HOST, userId, mustQueue: false, now: new Date() });
    await recordSubmission(testDb.db, item.id, { format: 'file', importData: DATA, loglevel: null, transport: 'mnet', location: null });
    await markQueued(testDb.db, item.id);
    return item;
  }

  it('queue list shows each transfer with its state, peer, format and last error; --state filters', async () => {
    const waiting = await createIntent(testDb.db, { host: HOST, userId, mustQueue: false, now: new Date() });
    const ready = await queued();
    const listed = await run('queue', 'list');
    expect(listed.code).toBe(0);
    expect(listed.output).toContain(`#${waiting.id} intended user=${userId} peer=${HOST} format=-`);
    expect(listed.output).toContain(`#${ready.id} queued user=${userId} peer=${HOST} format=file attempts=0`);
    expect((await run('queue', 'list', '--state', 'queued')).output.split('\n')).toHaveLength(1);
    expect(await run('queue', 'list', '--state', 'done')).toMatchObject({ code: 1, output: expect.stringMatching(/--state must be one of/) });
  });

  it('queue retry makes a failed transfer due again with its attempts reset', async () => {
    const item = await queued();
    const claimed = (await claimNextItem(testDb.db, 'w', new Date(), 3600))!;
    await recordFailure(testDb.db, claimed, { message: 'boom', permanent: true, maxAttempts: 5, now: new Date(), workerId: 'w' });
    expect((await run('queue', 'list', '--state', 'failed')).output).toContain('error="boom"');
    expect((await run('queue', 'retry', String(item.id))).code).toBe(0);
    expect(await testDb.db('import_queue').where({ id: item.id }).first()).toMatchObject({ state: 'queued', attempts: 0, run_after: null });
    expect(await run('queue', 'retry', '999999')).toMatchObject({ code: 1, output: 'error: No queued or failed transfer 999999' });
  });

  it('queue cancel removes the transfer and its cached zip, and records it as cancelled', async () => {
    const item = await queued();
    const zip = cachedZipPath(services.imports, item);
    fs.mkdirSync(path.dirname(zip), { recursive: true });
    fs.writeFileSync(zip, 'zip');
    await recordCachedZip(testDb.db, item.id, zip, DATA.zipfilesha1);
    expect(await run('queue', 'cancel', String(item.id))).toEqual({ code: 0, output: `transfer ${item.id} cancelled` });
    expect(await testDb.db('import_queue').where({ id: item.id })).toHaveLength(0);
    expect(fs.existsSync(zip)).toBe(false);
    expect(await testDb.db('import_history').where({ queue_id: item.id }).first()).toMatchObject({ outcome: 'cancelled' });
    expect((await run('queue', 'cancel', String(item.id))).code).toBe(1);
    expect((await run('queue', 'cancel', 'abc')).output).toBe('error: id must be a positive number, got "abc"');
  });

  it('queue run with nothing due says so and succeeds', async () => {
    expect(await run('queue', 'run')).toEqual({ code: 0, output: 'done: 0 imported, 0 to retry, 0 failed, 0 expired' });
  });

  it('plugin priority overrides a declared priority, plugin list shows it, default restores it', async () => {
    expect((await run('plugin', 'list')).output).toContain('file: file/file=100 LEAP/resource=110');
    expect((await run('plugin', 'priority', 'blog', 'LEAP/selection', '120')).code).toBe(0);
    expect((await run('plugin', 'list')).output).toContain('blog: LEAP/selection=120 (default 100)');
    expect((await run('plugin', 'priority', 'blog', 'LEAP/selection', 'default')).code).toBe(0);
    expect((await run('plugin', 'list')).output).toContain('blog: LEAP/selection=100 LEAP/*=10');
    expect((await run('plugin', 'priority', 'blog', 'file/file', '5')).output).toMatch(/^error: blog does not import file\/file/);
    expect((await run('plugin', 'priority', 'nosuch', 'file/file', '5')).output).toBe('error: Unknown artefact plugin "nosuch"');
  });
});
