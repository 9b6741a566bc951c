import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { startService, type RunningService } from '../../src/start.js';
import { createPostgresDatabase, engines } from '../helpers/db.js';
import { FakePeer } from '../helpers/fake-peer.js';
import { tempDataDir, testConfig } from '../helpers/services.js';

/**
 * The real CLI as a child process (`node --import tsx src/cli/main.ts ...`): alone, when it opens the
 * database itself, and while a server holds the same DATA_DIR, when it runs the command inside the server
 * over DATA_DIR/control.sock.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUR_WWWROOT = 'http://mahara.test';
const CLI_TIMEOUT_MS = 60_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const FINGERPRINT = /SHA1 ((?:[0-9A-F]{2}:){19}[0-9A-F]{2})/;
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

function fingerprintIn(output: string): string {
  const match = FINGERPRINT.exec(output);
  expect(match, output).not.toBeNull();
  return match![1]!;
}

function certificateIn(output: string): string {
  const match = /-----BEGIN CERTIFICATE-----\n[\s\S]+?\n-----END CERTIFICATE-----\n/.exec(output);
  expect(match, output).not.toBeNull();
  return match![0];
}

describe.each(engines)('the CLI ($name)', (engine) => {
  let dataDir: string;
  let databaseUrl: string | undefined;
  let dropDatabase: () => Promise<void> = async () => {};
  let fake: FakePeer;
  let server: RunningService | undefined;

  beforeAll(async () => {
    dataDir = tempDataDir();
    if (engine.name === 'postgresql') {
      const pg = await createPostgresDatabase();
      if (!pg) throw new Error('TEST_DATABASE_URL is needed for the postgresql run');
      databaseUrl = pg.url;
      dropDatabase = pg.drop;
    }
    fake = await FakePeer.start();
    fake.handlers.set(MethodPath.listServices, () => [{ name: 'pf', apiversion: 1, publish: 1, subscribe: 1 }]);
  });

  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
    await dropDatabase();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs the CLI with only the settings we choose (no inherited DATABASE_URL or MNET_*). */
  function cli(...args: string[]): Promise<CliResult> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dataDir,
      DATA_DIR: dataDir,
      WWWROOT: OUR_WWWROOT,
      LOG_LEVEL: 'error',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`cli ${args.join(' ')} timed out; stdout: ${stdout}; stderr: ${stderr}`));
      }, CLI_TIMEOUT_MS);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  describe('alone (no server running)', () => {
    let fingerprint: string;

    it('keys show prints our fingerprint and certificate', async () => {
      const result = await cli('keys', 'show');
      expect(result.code, result.stderr).toBe(0);
      fingerprint = fingerprintIn(result.stdout);
      expect(result.stdout).toContain(OUR_WWWROOT);
      certificateIn(result.stdout);
      // Stable: a second run reads the same pair from the database.
      expect(fingerprintIn((await cli('keys', 'show')).stdout)).toBe(fingerprint);
    });

    it('keys rotate makes a new pair, which keys show then reports', async () => {
      const rotated = await cli('keys', 'rotate');
      expect(rotated.code, rotated.stderr).toBe(0);
      const fresh = fingerprintIn(rotated.stdout);
      expect(fresh).not.toBe(fingerprint);
      const shown = await cli('keys', 'show');
      expect(fingerprintIn(shown.stdout)).toBe(fresh);
      expect(shown.stdout).toMatch(/old keys kept for decryption: 1\b/);
      // The FakePeer trusts the certificate we now have, for `peer verify` below.
      fake.trusted.set(OUR_WWWROOT, certificateIn(shown.stdout));
    });

    it('peer add registers a FakePeer through keyswap', async () => {
      const result = await cli('peer', 'add', fake.wwwroot + '/', '--app', 'moodle', '--name', 'Fake LMS');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(fake.wwwroot);
      expect(fake.calls.filter((c) => c.method === MethodPath.keyswap && !c.encrypted)).toHaveLength(1);
      // A second add of the same site is refused.
      const again = await cli('peer', 'add', fake.wwwroot, '--app', 'moodle');
      expect(again.code).toBe(1);
      expect(again.stdout).toMatch(/^error: /m);
    });

    it('peer list and peer show describe the peer', async () => {
      const list = await cli('peer', 'list');
      expect(list.code).toBe(0);
      const line = list.stdout.split('\n').find((l) => l.startsWith(fake.wwwroot));
      expect(line, list.stdout).toBeDefined();
      expect(line).toContain('moodle');
      expect(line).toContain('"Fake LMS"');

      const show = await cli('peer', 'show', fake.wwwroot);
      expect(show.code).toBe(0);
      expect(show.stdout).toMatch(/name:\s+Fake LMS/);
      expect(show.stdout).toContain(`${fake.wwwroot}/mnet/xmlrpc/server.php`);
    });

    it('peer edit --name renames the peer', async () => {
      const edit = await cli('peer', 'edit', fake.wwwroot, '--name', 'Renamed LMS');
      expect(edit.code, edit.stdout + edit.stderr).toBe(0);
      expect((await cli('peer', 'show', fake.wwwroot)).stdout).toMatch(/name:\s+Renamed LMS/);
    });

    it('peer edit of a service that is not registered fails readably with exit 1 and changes nothing', async () => {
      // Only system/* methods exist so far, and `system` is not an editable service.
      const edit = await cli('peer', 'edit', fake.wwwroot, '--name', 'Should Not Stick', '--unpublish', 'system');
      expect(edit.code).toBe(1);
      expect(edit.stdout).toMatch(/^error: .*system/m);
      expect(edit.stdout + edit.stderr).not.toMatch(STACK_LINE);
      expect((await cli('peer', 'show', fake.wwwroot)).stdout).toMatch(/name:\s+Renamed LMS/);
    });

    it('peer verify reports a reachable, matching, authenticated peer and exits 0', async () => {
      const verify = await cli('peer', 'verify', fake.wwwroot);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/reachable \(keyswap\):\s+yes/);
      expect(verify.stdout).toMatch(/key matches stored key:\s+yes/);
      expect(verify.stdout).toMatch(/authenticated call:\s+yes/);
      expect(verify.stdout).toMatch(/clock offset:\s+-?\d+(\.\d)? s/);
      expect(fake.calls.some((c) => c.method === MethodPath.listServices && c.encrypted)).toBe(true);
      expect((await cli('peer', 'list')).stdout).not.toMatch(/last contact never/);
    });

    it('peer verify exits 1 when the peer no longer trusts us', async () => {
      const trusted = fake.trusted.get(OUR_WWWROOT)!;
      fake.trusted.clear();
      try {
        const verify = await cli('peer', 'verify', fake.wwwroot);
        expect(verify.code).toBe(1);
        expect(verify.stdout).toMatch(/authenticated call:\s+no/);
      } finally {
        fake.trusted.set(OUR_WWWROOT, trusted);
      }
    });

    it('peer delete soft-deletes: gone from the list, shown with --all', async () => {
      const del = await cli('peer', 'delete', fake.wwwroot);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect((await cli('peer', 'list')).stdout).not.toContain(fake.wwwroot);
      const all = await cli('peer', 'list', '--all');
      expect(all.stdout.split('\n').find((l) => l.startsWith(fake.wwwroot))).toContain('DELETED');
      const show = await cli('peer', 'show', fake.wwwroot);
      expect(show.code).toBe(1);
    });

    it('an unknown command exits 1 and prints the usage', async () => {
      const result = await cli('frobnicate', 'now');
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('frobnicate');
      expect(result.stdout).toContain('Usage:');
    });

    it('no command prints the usage and exits 0', async () => {
      const result = await cli();
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage:');
    });

    it.each([
      [['peer', 'add', 'ftp://x']],
      [['peer', 'add', 'http://x.test/?a=1']],
      [['peer', 'add', 'http://x.test', '--app', 'blackboard']],
      [['peer', 'add']],
      [['peer', 'list', '--bogus']],
    ])('bad input %j: readable error, exit 1, no stack trace', async (args) => {
      const result = await cli(...args);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^error: \S/m);
      expect(result.stdout).not.toContain('internal error');
      expect(result.stdout + result.stderr).not.toMatch(STACK_LINE);
    });

    it('a bad setting exits 2 with a message naming it', async () => {
      const child = await new Promise<CliResult>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keys', 'show'], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, WWWROOT: 'ftp://mahara.test' },
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(child.code).toBe(2);
      expect(child.stderr).toMatch(/^error: .*ftp:\/\/mahara\.test/m);
      expect(child.stderr).not.toMatch(STACK_LINE);
    });
  });

  describe('while a server runs on the same DATA_DIR', () => {
    const serverConfig = () => ({ ...testConfig({ WWWROOT: OUR_WWWROOT, DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }), port: 0 });
    const publicKeyPage = async () => (await fetch(`http://127.0.0.1:${server!.address.port}/api/xmlrpc/publickey.php`)).text();

    beforeAll(async () => {
      server = await startService(serverConfig(), silentLogger, { host: '127.0.0.1' });
    });

    it('keys show reports the server\'s key', async () => {
      const result = await cli('keys', 'show');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const current = await server!.services.keys.current();
      expect(fingerprintIn(result.stdout)).toBe(current.sha1Fingerprint);
      expect(certificateIn(result.stdout)).toBe(current.certificatePem);
    });

    it('keys rotate takes effect in the server at once (the command ran inside it)', async () => {
      const before = await publicKeyPage();
      const rotated = await cli('keys', 'rotate');
      expect(rotated.code, rotated.stdout + rotated.stderr).toBe(0);
      const after = await publicKeyPage();
      expect(after).not.toBe(before);
      expect(fingerprintIn(rotated.stdout)).toBe((await server!.services.keys.current()).sha1Fingerprint);
      expect(after).toBe((await server!.services.keys.current()).certificatePem);
    });

    it('errors and exit codes come back over the control socket', async () => {
      const show = await cli('peer', 'show', 'http://nowhere.test');
      expect(show.code).toBe(1);
      expect(show.stdout).toMatch(/^error: \S/m);
      const unknown = await cli('frobnicate');
      expect(unknown.code).toBe(1);
      expect(unknown.stdout).toContain('Usage:');
    });

    it('a second server on the same DATA_DIR refuses to start with a clear error, and the first keeps running', async () => {
      let refused: unknown;
      const started = Date.now();
      try {
        const second = await startService(serverConfig(), silentLogger, { host: '127.0.0.1', dataDirWaitMs: 1_000 });
        await second.stop();
      } catch (err) {
        refused = err;
      }
      expect(refused).toBeInstanceOf(MnetFault);
      expect((refused as MnetFault).code).toBe(FaultCode.InvalidConfiguration);
      expect((refused as MnetFault).message).toContain(dataDir);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000); // it waited for the holder to let go
      // The first server and its control socket still work.
      expect((await fetch(`http://127.0.0.1:${server!.address.port}/healthz`)).status).toBe(200);
      expect((await cli('keys', 'show')).code).toBe(0);
    });

    it('after the server stops, the CLI works alone again and sees the rotated key', async () => {
      const fingerprint = (await server!.services.keys.current()).sha1Fingerprint;
      await server!.stop();
      server = undefined;
      expect(fs.existsSync(path.join(dataDir, 'control.sock'))).toBe(false);
      const result = await cli('keys', 'show');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(fingerprintIn(result.stdout)).toBe(fingerprint);
    });
  });
});
