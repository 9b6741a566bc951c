import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { silentLogger } from '../../src/log.js';
import { createIntent, markQueued, recordSubmission } from '../../src/portfolio/queue.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import { openServices } from '../../src/services.js';
import { createPostgresDatabase, engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { tempDataDir, testConfig } from '../helpers/services.js';
import { buildZip } from '../helpers/zip-writer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FILES = 400;

/**
 * "Kill the import mid-way, run again, exactly one copy" (the portfolio issue): `queue run` in its own
 * process is killed with SIGKILL while it stores the package's files; a later run takes the dead claim
 * over, uses the zip the first run cached (Moodle would not hand it out twice) and imports it once, and the
 * blobs the dead run stored are gone.
 */
describe.each(engines)('an import killed mid-way ($name)', (engine) => {
  it('is imported exactly once by the next run, with nothing left over from the dead one', async () => {
    const dataDir = tempDataDir();
    const pg = engine.name === 'postgresql' ? await createPostgresDatabase() : undefined;
    const env: Record<string, string> = { DATA_DIR: dataDir, WWWROOT: 'http://127.0.0.1:9', PORTFOLIO_CRON: 'off', ...(pg ? { DATABASE_URL: pg.url } : {}) };
    const moodle = await FakePeer.start();
    try {
      const exports = new MoodleExports(moodle);
      let services = await openServices(testConfig(env), silentLogger);
      const { db } = services;
      const peer = await registerFakePeer(db, moodle, { wwwroot: services.config.wwwroot, certificatePem: (await services.keys.current()).certificatePem });
      await updatePeerIdentitySettings(db, peer.id, { weImportContent: true });
      const { user } = await findOrCreateRemoteUser(db, peer, { username: 'amelia', firstname: 'A', lastname: 'H', email: 'a@example.test' }, { create: true, updateProfile: false });
      const zip = buildZip(Array.from({ length: FILES }, (_, i) => ({ name: `page-${i}.txt`, data: `page ${i} `.repeat(200) })));
      const item = await createIntent(db, { host: peer.wwwroot, userId: user.id, mustQueue: false, now: new Date() });
      await recordSubmission(db, item.id, { format: 'file', importData: (await importDataFor(zip)) as never, loglevel: null, transport: 'mnet', location: null });
      await markQueued(db, item.id);
      exports.offer(item.token, zip);
      await services.close();

      const blobDir = path.join(dataDir, 'files');
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'queue', 'run'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      // Killed once it has stored some of the files, well before all of them.
      for (let i = 0; i < 2000 && countBlobFiles(blobDir) < 20; i++) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      await exited;
      const storedByTheDead = countBlobFiles(blobDir);
      expect(storedByTheDead).toBeGreaterThanOrEqual(20);
      expect(storedByTheDead).toBeLessThan(FILES);

      // A later run, after the dead worker's claim has gone stale.
      services = await openServices(testConfig(env), silentLogger, { now: () => new Date(Date.now() + 2 * 3600_000) });
      try {
        const before = await services.db('import_queue').where({ id: item.id }).first();
        expect(before).toMatchObject({ state: 'processing', attempts: 1 });
        expect(await processIncomingContentQueue(services.imports)).toMatchObject({ imported: 1, failed: 0, retrying: 0 });
        expect(exports.fetches).toEqual([item.token]);
        expect(await services.db('artefacts').where({ owner: user.id }).whereNot({ artefacttype: 'folder' })).toHaveLength(FILES);
        expect(await services.db('artefacts').where({ owner: user.id, artefacttype: 'folder' })).toHaveLength(1);
        expect(Number((await services.db('blobs').count({ n: '*' }).first())!.n)).toBe(FILES);
        expect(countBlobFiles(blobDir)).toBe(FILES);
        expect(await services.db('import_history').where({ queue_id: item.id })).toMatchObject([{ outcome: 'complete', artefacts: FILES }]);
        expect(fs.readdirSync(path.join(dataDir, 'import'))).toEqual([]);
      } finally {
        await services.close();
      }
    } finally {
      await moodle.stop();
      await pg?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

function countBlobFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir, { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f))).length;
}
