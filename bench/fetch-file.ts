/**
 * npm run bench:fetch — MnetClient.callForFile (fetch_file, mnet-protocol.md §7.4) of a BENCH_MB zip
 * (default 1024) over loopback: throughput, where the time goes, and our peak memory, beside `unzip -t` of
 * the same zip as a yardstick.
 *
 * The peer runs in a process of its own (this file with --peer), so its CPU and memory are not counted as
 * ours. Two runs:
 *  - live: a FakePeer answers as Moodle would, producing the body while it sends it (base64 of RC4 of
 *    base64 of the XML-RPC document with base64 of the zip, test/helpers/stream-envelope.ts), after a
 *    first pass over the zip to hash and sign the payload. Its RC4 runs at the same speed as ours, so on a
 *    two-core machine the download is as fast as the peer can encrypt.
 *  - pre-rendered: the peer renders that same body to a file first (not timed) and then only streams the
 *    file, so the run measures our side alone. (The signed timestamp is then older than the call; the
 *    client's drift check is one-sided and allows that, §3.4.)
 * Our side is the real client with an in-memory database, as in the tests; its RSS before the call
 * includes that database.
 *
 * The zip holds random (incompressible) data stored without compression, so it is about BENCH_MB.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createDb, migrateToLatest } from '../src/db/knex.js';
import { generateKeyPair, parseCertificate } from '../src/mnet/certificate.js';
import { savePeer } from '../src/mnet/peers.js';
import type { Services } from '../src/services.js';
import { FakeFileResult, FakePeer } from '../test/helpers/fake-peer.js';
import { createTestServices } from '../test/helpers/services.js';
import { streamFileResponse } from '../test/helpers/stream-envelope.js';

const MB = 1 << 20;
const FETCH = 'portfolio/mahara/lib.php/fetch_file';
const OUR_WWWROOT = 'http://mahara.test';

/**
 * The peer process: answers fetch_file with BENCH_PEER_FILE (live or pre-rendered, BENCH_PEER_MODE) until
 * its stdin closes. Announces `{wwwroot, certificatePem}` on stdout when ready.
 */
async function peerMain(): Promise<void> {
  const file = process.env.BENCH_PEER_FILE!;
  const trusted = process.env.BENCH_PEER_TRUST!;
  let stop: () => Promise<void>;
  if (process.env.BENCH_PEER_MODE === 'live') {
    const fake = await FakePeer.start();
    fake.trusted.set(OUR_WWWROOT, trusted);
    fake.handlers.set(FETCH, () => new FakeFileResult(file));
    process.stdout.write(`${JSON.stringify({ wwwroot: fake.wwwroot, certificatePem: fake.certificatePem })}\n`);
    stop = () => fake.stop();
  } else {
    const body = `${file}.response.xml`;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
        void pipeline(fs.createReadStream(body, { highWaterMark: MB }), res).catch(() => undefined);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const wwwroot = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pair = await generateKeyPair({
      wwwroot,
      subject: { country: 'NZ', province: 'Wellington', locality: 'Wellington', organisation: 'Bench Moodle', email: 'noreply@moodle.test' },
      days: 1,
      now: new Date(),
    });
    await pipeline(
      Readable.from(
        streamFileResponse({
          filePath: file,
          signingKey: crypto.createPrivateKey(pair.privateKeyPem),
          wwwroot,
          timestamp: Math.floor(Date.now() / 1000),
          publicKeyUrl: `${wwwroot}/mnet/publickey.php`,
          recipientKey: parseCertificate(trusted).publicKey,
        }),
      ),
      fs.createWriteStream(body),
    );
    process.stdout.write(`${JSON.stringify({ wwwroot, certificatePem: pair.certificatePem })}\n`);
    stop = async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(body, { force: true });
    };
  }
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await stop();
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

async function hasCommand(name: string): Promise<boolean> {
  return run(name, ['-v']).then(
    () => true,
    () => false,
  );
}

/** A stored zip of about `mb` MB of random data (or, without `zip`, the data itself); returns its sha1. */
async function makeZip(dir: string, mb: number, zipAvailable: boolean): Promise<Source> {
  const data = path.join(dir, 'data.bin');
  const fd = fs.openSync(data, 'w');
  const block = crypto.randomBytes(MB);
  for (let i = 0; i < mb; i++) {
    block.writeUInt32LE(i, 0); // no two blocks alike
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  let zip = data;
  if (zipAvailable) {
    zip = path.join(dir, 'bench.zip');
    await run('zip', ['-0', '-q', '-j', zip, data]);
    fs.rmSync(data);
  }
  const hash = crypto.createHash('sha1');
  for await (const piece of fs.createReadStream(zip, { highWaterMark: 4 * MB })) hash.update(piece as Buffer);
  return { zip, sha1: hash.digest('hex'), bytes: fs.statSync(zip).size };
}

interface Source {
  zip: string;
  sha1: string;
  bytes: number;
}

/** One callForFile against a peer process in `mode`; prints what it measured. */
async function fetchOnce(services: Services, source: Source, mode: 'live' | 'pre-rendered', dir: string): Promise<void> {
  const peerProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--peer'], {
    env: { ...process.env, BENCH_PEER_MODE: mode, BENCH_PEER_FILE: source.zip, BENCH_PEER_TRUST: (await services.keys.current()).certificatePem },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const target = path.join(dir, 'import.zip');
  try {
    if (mode === 'pre-rendered') process.stdout.write('  (the peer renders the body first)\n');
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: peerProcess.stdout }).once('line', resolve);
      peerProcess.once('exit', (code) => reject(new Error(`the peer process exited (${code}) before it was ready`)));
    });
    const { wwwroot, certificatePem } = JSON.parse(line) as { wwwroot: string; certificatePem: string };
    const cert = parseCertificate(certificatePem);
    const peer = await savePeer(services.db, { wwwroot, name: `Bench Moodle (${mode})`, application: 'moodle', publicKeyPem: cert.pem, publicKeyExpires: cert.validTo }, new Date());

    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 25);
    let firstByte = 0;
    let lastByte = 0;
    let bodyBytes = 0;
    const started = performance.now();
    const result = await services.client.callForFile(peer, FETCH, ['bench-token'], {
      path: target,
      maxBytes: source.bytes,
      onProgress: (received) => {
        lastByte = performance.now();
        firstByte ||= lastByte;
        bodyBytes = received;
      },
    });
    const finished = performance.now();
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    if (result.sha1 !== source.sha1 || result.bytes !== source.bytes) throw new Error('the file received differs from the one sent');

    const zipMb = source.bytes / MB;
    const rate = (ms: number, megabytes = zipMb) => `${(megabytes / (ms / 1000)).toFixed(0)} MB/s`;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`${mode} peer:`);
    console.log(`  end to end:         ${s(finished - started)}, ${rate(finished - started)} of zip`);
    console.log(`  first byte after:   ${s(firstByte - started)}${mode === 'live' ? ' (the peer hashes and signs the payload first)' : ''}`);
    console.log(`  download, pass 1:   ${s(lastByte - firstByte)}, ${rate(lastByte - firstByte, bodyBytes / MB)} of body (${(bodyBytes / MB).toFixed(0)} MB, ${(bodyBytes / source.bytes).toFixed(2)} x the zip), spooled`);
    console.log(`  decrypt, pass 2:    ${s(finished - lastByte)}, ${rate(finished - lastByte)} of zip (RC4 on a worker thread; verify, decode, write)`);
    console.log(`  our RSS:            ${(rssBefore / MB).toFixed(0)} MB before, peak ${(rssPeak / MB).toFixed(0)} MB (+${((rssPeak - rssBefore) / MB).toFixed(0)} MB)`);
  } finally {
    peerProcess.stdin.end();
    if (peerProcess.exitCode === null) await new Promise((resolve) => peerProcess.once('exit', resolve));
  }
}

async function main(): Promise<void> {
  const mb = Number(process.env.BENCH_MB ?? 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-bench-fetch-'));
  const zipAvailable = (await hasCommand('zip')) && (await hasCommand('unzip'));
  const db = createDb({ pgliteDir: null });
  await migrateToLatest(db);
  const services = await createTestServices({ db, env: { WWWROOT: OUR_WWWROOT } });
  try {
    process.stdout.write(`making a ${mb} MB zip... `);
    const source = await makeZip(dir, mb, zipAvailable);
    process.stdout.write(`done (${(source.bytes / MB).toFixed(0)} MB${zipAvailable ? '' : '; no zip/unzip here, so raw data'})\n`);
    console.log(`\nfetch_file of a ${(source.bytes / MB).toFixed(0)} MB zip over loopback, ${os.cpus().length} cores, the peer in its own process`);
    await fetchOnce(services, source, 'live', dir);
    await fetchOnce(services, source, 'pre-rendered', dir);
    if (zipAvailable) {
      const unzipMs = await run('unzip', ['-t', '-qq', path.join(dir, 'import.zip')]);
      console.log(`unzip -t of the received zip (yardstick): ${(unzipMs / 1000).toFixed(1)} s, ${(source.bytes / MB / (unzipMs / 1000)).toFixed(0)} MB/s (reads it once, checks its CRCs)`);
    }
  } finally {
    await services.close();
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await (process.argv.includes('--peer') ? peerMain() : main());
