/**
 * npm run bench:import — one big portfolio package (BENCH_MB, default 1024) fetched through MNet fetch_file
 * and imported by a real queue run, beside `unzip` of the same zip in the same run (the baseline).
 *
 * Three processes, so each is measured alone:
 *  - the peer: bench/fetch-file.ts in its --peer mode, pre-rendered (it writes Moodle's signed and
 *    encrypted answer to a file first, then only streams it, so its own RC4 does not compete for the CPU);
 *  - the importer: this file with --worker, the real services running process_incoming_content_queue
 *    once; it reports its wall time and its peak RSS (getrusage maxrss);
 *  - this process: makes the zip, registers the peer, queues the transfer, runs `unzip`, prints figures.
 * The database is PostgreSQL when BENCH_DATABASE_URL (or TEST_DATABASE_URL) is set — its server's memory is
 * not ours — else the embedded PGlite in the importer's DATA_DIR, whose memory is.
 *
 * The zip holds 16 files of random (incompressible) data, stored: what student exports mostly are
 * (photos, video, PDFs), and the worst case for every pass that reads each byte.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { updatePeerIdentitySettings } from '../src/identity/peer-settings.js';
import { findOrCreateRemoteUser } from '../src/identity/remote-users.js';
import { createLogger, silentLogger } from '../src/log.js';
import { parseCertificate } from '../src/mnet/certificate.js';
import { savePeer } from '../src/mnet/peers.js';
import { createIntent, markQueued, recordSubmission } from '../src/portfolio/queue.js';
import { processIncomingContentQueue } from '../src/portfolio/run-queue.js';
import { openServices } from '../src/services.js';
import { createPostgresDatabase } from '../test/helpers/db.js';

const MB = 1 << 20;
const FILES = 16;
const TARGET_RSS_MB = 256;

/** The importer process: one queue run with the environment's configuration; prints JSON figures. */
async function workerMain(): Promise<void> {
  const config = loadConfig();
  const services = await openServices(config, createLogger(config.logLevel));
  try {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const summary = await processIncomingContentQueue(services.imports);
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = { user: cpu.user / 1e6, system: cpu.system / 1e6 };
    process.stdout.write(`${JSON.stringify({ ms, summary, maxRssMb: process.resourceUsage().maxRSS / 1024, cpuSeconds })}\n`);
  } finally {
    await services.close();
  }
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - started, out }) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

interface Package {
  zip: string;
  importData: { filesmanifest: Record<string, { filename: string; sha1: string; size: number }>; zipfilesha1: string; zipfilesize: number; totalsize: number };
}

async function makePackage(dir: string, mb: number): Promise<Package> {
  const content = path.join(dir, 'content');
  fs.mkdirSync(content);
  const manifest: Package['importData']['filesmanifest'] = {};
  let totalsize = 0;
  const block = crypto.randomBytes(MB);
  const perFile = Math.max(Math.floor(mb / FILES), 1);
  for (let f = 0; f < FILES; f++) {
    const filename = `video-${String(f).padStart(2, '0')}.mp4`;
    const fd = fs.openSync(path.join(content, filename), 'w');
    const hash = crypto.createHash('sha1');
    for (let i = 0; i < perFile; i++) {
      block.writeUInt32LE(f * 100_000 + i, 0); // no two blocks alike
      fs.writeSync(fd, block);
      hash.update(block);
    }
    fs.closeSync(fd);
    const sha1 = hash.digest('hex');
    manifest[sha1] = { filename, sha1, size: perFile * MB };
    totalsize += perFile * MB;
  }
  const zip = path.join(dir, 'package.zip');
  await run('zip', ['-0', '-q', '-j', '-r', zip, content]);
  fs.rmSync(content, { recursive: true });
  const hash = crypto.createHash('sha1');
  for await (const piece of fs.createReadStream(zip, { highWaterMark: 4 * MB })) hash.update(piece as Buffer);
  return { zip, importData: { filesmanifest: manifest, zipfilesha1: hash.digest('hex'), zipfilesize: fs.statSync(zip).size, totalsize } };
}

async function main(): Promise<void> {
  const mb = Number(process.env.BENCH_MB ?? 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-bench-import-'));
  // Only when set: assigning undefined to process.env stores the string "undefined".
  if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL ??= process.env.BENCH_DATABASE_URL;
  const pg = await createPostgresDatabase();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: path.join(dir, 'data'),
    WWWROOT: 'http://mahara.bench',
    LOG_LEVEL: 'error',
    PORTFOLIO_CRON: 'off',
    PORTFOLIO_MAX_ZIP_BYTES: String(4 * 1024 * MB),
    MNET_CLIENT_TIMEOUT: '600',
    ...(pg ? { DATABASE_URL: pg.url } : {}),
  };
  let peerProcess: ReturnType<typeof spawn> | undefined;
  try {
    console.log(`making a ${mb} MB package (${FILES} files of random data, stored) …`);
    const pkg = await makePackage(dir, mb);
    const zipMb = pkg.importData.zipfilesize / MB;

    // Our key first: the peer encrypts its answer to it.
    let services = await openServices(loadConfig(env), silentLogger);
    const ourCert = (await services.keys.current()).certificatePem;
    await services.close();

    const fetchBench = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fetch-file.ts');
    peerProcess = spawn(process.execPath, ['--import', 'tsx', fetchBench, '--peer'], {
      env: { ...process.env, BENCH_PEER_MODE: 'pre-rendered', BENCH_PEER_FILE: pkg.zip, BENCH_PEER_TRUST: ourCert },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: peerProcess!.stdout! }).once('line', resolve);
      peerProcess!.once('exit', (code) => reject(new Error(`the peer process exited (${code}) before it was ready`)));
    });
    const announced = JSON.parse(line) as { wwwroot: string; certificatePem: string };

    services = await openServices(loadConfig(env), silentLogger);
    try {
      const { db } = services;
      const cert = parseCertificate(announced.certificatePem);
      const peer = await savePeer(db, { wwwroot: announced.wwwroot, name: 'Bench Moodle', application: 'moodle', publicKeyPem: cert.pem, publicKeyExpires: cert.validTo }, new Date());
      await updatePeerIdentitySettings(db, peer.id, { weImportContent: true });
      const { user } = await findOrCreateRemoteUser(db, peer, { username: 'bench', firstname: 'B', lastname: 'Ench', email: 'b@example.test' }, { create: true, updateProfile: false });
      await db('users').where({ id: user.id }).update({ quota: 2 ** 40 });
      const item = await createIntent(db, { host: peer.wwwroot, userId: user.id, mustQueue: false, now: new Date() });
      await recordSubmission(db, item.id, { format: 'file', importData: pkg.importData, loglevel: null, transport: 'mnet', location: null });
      await markQueued(db, item.id);
    } finally {
      await services.close();
    }

    const unzipDir = path.join(dir, 'unzipped');
    const unzip = await run('unzip', ['-q', '-o', pkg.zip, '-d', unzipDir]);
    fs.rmSync(unzipDir, { recursive: true });

    // The importer logs at info level (stderr, passed through): its line gives the time of each phase.
    const worker = await run(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--worker'], { env: { ...env, LOG_LEVEL: 'info' } });
    const figures = JSON.parse(worker.out.trim().split('\n').pop()!) as {
      ms: number;
      summary: { imported: number };
      maxRssMb: number;
      cpuSeconds: { user: number; system: number };
    };
    if (figures.summary.imported !== 1) throw new Error(`the import did not succeed: ${JSON.stringify(figures.summary)}`);

    const rate = (ms: number) => zipMb / (ms / 1000);
    console.log(`portfolio import of a ${zipMb.toFixed(0)} MB zip on ${pg ? 'PostgreSQL' : 'embedded PGlite'}`);
    console.log(`  unzip (baseline):          ${(unzip.ms / 1000).toFixed(1)} s = ${rate(unzip.ms).toFixed(0)} MB/s`);
    console.log(`  fetch_file + import (ours): ${(figures.ms / 1000).toFixed(1)} s = ${rate(figures.ms).toFixed(0)} MB/s`);
    console.log(`  ratio ours/unzip:          ${(rate(figures.ms) / rate(unzip.ms)).toFixed(2)} (target ≥ 0.5)`);
    console.log(`  importer peak RSS:         ${figures.maxRssMb.toFixed(0)} MB (target < ${TARGET_RSS_MB} MB)`);
    // All its threads (RC4 worker, libuv's pool, the garbage collector's): on two cores this is what limits.
    const { user, system } = figures.cpuSeconds;
    console.log(`  importer CPU time:         ${(user + system).toFixed(1)} s (${user.toFixed(1)} user + ${system.toFixed(1)} system)`);
  } finally {
    peerProcess?.stdin?.end();
    await pg?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--worker')) await workerMain();
else await main();
