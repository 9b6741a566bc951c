/**
 * npm run bench:mnet — signed+encrypted MNet calls per second against our real server over loopback,
 * beside the raw rate of the RSA operations one call costs the server, measured in the same run.
 *
 * The server runs as its own process (`src/main.ts`, embedded database), exactly as `npm start` runs it.
 * This process plays a Moodle peer: it registers itself through the CLI, builds the signed+encrypted
 * requests up front (so its own RSA work is not part of the timed run), then keeps CONCURRENCY requests in
 * flight and times each one. Every response is opened and its signature checked afterwards.
 *
 * The server is one Node process, so its limit is one core's RSA rate: per call it does one private
 * decryption (the RC4 key), one signature (the answer), one verification (the request) and one public
 * encryption (the answer's RC4 key).
 *
 * BENCH_CALLS, BENCH_WARMUP and BENCH_CONCURRENCY change the run; BENCH_NODE_ARGS passes flags to the
 * server process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where its time goes). After the
 * default 300 warm-up calls V8 is still optimising both processes for most of the timed run: with
 * BENCH_WARMUP=3000 the same code measures 20-30% more calls per second (README, Performance).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { encodeMethodCall, decodeMethodResponse } from '../src/mnet/codec.js';
import { parseCertificate } from '../src/mnet/certificate.js';
import { parseXml } from '../src/mnet/xml.js';
import { FakePeer } from '../test/helpers/fake-peer.js';
import { freePort } from '../test/helpers/service-under-test.js';
import { loadConfig } from '../src/config.js';
import { createDb } from '../src/db/knex.js';
import { silentLogger } from '../src/log.js';
import { addPeer } from '../src/mnet/peer-admin.js';
import { startService } from '../src/start.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 3000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const METHOD = 'system/listServices';
const MAHARA_PHP_CALLS_PER_SECOND = 25; // measured against Mahara 23.04 (DEVELOPERS.md)

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} failed:\n${out}`))));
  });
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error('the server exited during start-up');
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the server did not become healthy within 30 s');
}

function post(agent: http.Agent, port: number, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/api/xmlrpc/server.php', method: 'POST', agent, headers: { 'Content-Type': 'text/xml', 'Content-Length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One core's rate of the RSA work the server does per call, with keys of the sizes in play. */
function rawRsaCallsPerSecond(serverBits: number, peerBits: number): number {
  const server = crypto.generateKeyPairSync('rsa', { modulusLength: serverBits });
  const peer = crypto.generateKeyPairSync('rsa', { modulusLength: peerBits });
  const [serverKey, serverCert, peerKey, peerCert] = [server.privateKey, server.publicKey, peer.privateKey, peer.publicKey];
  const rc4Key = crypto.randomBytes(16);
  const wrapped = crypto.publicEncrypt({ key: serverCert, padding: crypto.constants.RSA_PKCS1_PADDING }, rc4Key);
  const payload = crypto.randomBytes(600);
  const signature = crypto.sign('sha1', payload, peerKey);
  const once = () => {
    crypto.privateDecrypt({ key: serverKey, padding: crypto.constants.RSA_NO_PADDING }, wrapped);
    crypto.sign('sha1', payload, serverKey);
    crypto.verify('sha1', payload, peerCert, signature);
    crypto.publicEncrypt({ key: peerCert, padding: crypto.constants.RSA_PKCS1_PADDING }, rc4Key);
  };
  for (let i = 0; i < 50; i++) once();
  const start = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - start < 2_000_000_000n) {
    once();
    n++;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/**
 * Our client doing its side live: a second instance of the service in this process (in-memory database),
 * registered with the server and the server with it, keeps CONCURRENCY calls in flight.
 */
async function endToEnd(
  env: NodeJS.ProcessEnv,
  serverUrl: string,
  serverSideLimit: number,
): Promise<{ rate: number; limit: number; p50: number; p99: number }> {
  const port = await freePort();
  const config = { ...loadConfig({ DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'pis-bench-client-')), WWWROOT: `http://127.0.0.1:${port}`, PORT: String(port) }) };
  const db = createDb({ pgliteDir: null });
  const side = await startService(config, silentLogger, { host: '127.0.0.1', db });
  try {
    const { services } = side;
    const server = await addPeer({ db, client: services.client, log: silentLogger, now: services.now }, { wwwroot: serverUrl, application: 'mahara' });
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', 'add', config.wwwroot, '--app', 'mahara'], env);
    const latencies: number[] = [];
    let done = 0;
    const worker = async (count: number, timed: boolean) => {
      while (done < count) {
        done++;
        const t0 = process.hrtime.bigint();
        const value = await services.client.call(server, METHOD, []);
        if (!Array.isArray(value)) throw new Error('listServices did not answer an array');
        if (timed) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(WARMUP, false)));
    done = 0;
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(CALLS, true)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    latencies.sort((a, b) => a - b);
    // The client's four operations are the same kinds on the same key sizes as the server's.
    return { rate: CALLS / seconds, limit: serverSideLimit / 2, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await side.stop();
    await db.destroy();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), WWWROOT: url, LOG_LEVEL: 'warn', DATABASE_URL: '' };
  const peer = await FakePeer.start();
  const server = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitForHealth(url, server);
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', 'add', peer.wwwroot, '--app', 'moodle'], env);
    const serverPem = await (await fetch(`${url}/api/xmlrpc/publickey.php`)).text();
    peer.trusted.set(url, serverPem);

    const serverBits = parseCertificate(serverPem).keyBits;
    const peerBits = parseCertificate(peer.certificatePem).keyBits;
    const limitBefore = rawRsaCallsPerSecond(serverBits, peerBits);
    process.stdout.write(`building ${WARMUP + CALLS} signed+encrypted ${METHOD} requests... `);
    const requests = Array.from({ length: WARMUP + CALLS }, () => peer.buildRequest(serverPem, encodeMethodCall(METHOD, [])));
    process.stdout.write('done\n');

    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const responses: Buffer[] = new Array(requests.length);
    const latencies: number[] = [];
    let next = 0;
    const worker = async (timed: boolean, end: number) => {
      while (next < end) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        responses[i] = await post(agent, port, requests[i]!);
        if (timed) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(false, WARMUP)));
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(true, WARMUP + CALLS)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    agent.destroy();

    // Every answer must be a real, verified listServices result, or the figures mean nothing.
    for (const body of responses) {
      const { payload, verified } = await peer.openResponse(body, serverPem);
      const decoded = decodeMethodResponse(parseXml(payload, 6001));
      if (!verified || !('value' in decoded) || !Array.isArray(decoded.value)) throw new Error('a response did not verify');
    }

    // Same key sizes as the run: the server's pair and the peer's. Measured before and after, because
    // this machine's speed drifts by 10-20% over a minute; the mean is the baseline.
    const limit = (limitBefore + rawRsaCallsPerSecond(serverBits, peerBits)) / 2;
    const rate = CALLS / seconds;
    latencies.sort((a, b) => a - b);
    console.log(`\nMNet ${METHOD}, signed+encrypted both ways, ${CALLS} calls, ${CONCURRENCY} in flight, loopback, ${os.cpus().length} cores`);
    console.log(`  our server:          ${rate.toFixed(0)} calls/s`);
    console.log(`  RSA limit (1 core):  ${limit.toFixed(0)} calls/s  (private decrypt + sign + verify + public encrypt, mean of before and after)`);
    console.log(`  ratio:               ${(rate / limit).toFixed(2)} of the RSA limit (target >= 0.70)`);
    console.log(`  latency:             p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    console.log(`  vs Mahara PHP:       ${(rate / MAHARA_PHP_CALLS_PER_SECOND).toFixed(1)} x its ${MAHARA_PHP_CALLS_PER_SECOND} calls/s (target 10 x)`);

    const e2e = await endToEnd(env, url, limit);
    console.log(`
The same calls made live by our own client (this process) to the server (its own process):`);
    console.log(`  calls:               ${e2e.rate.toFixed(0)} calls/s`);
    console.log(`  RSA of a whole call: ${e2e.limit.toFixed(0)} calls/s on one core (the server's four operations and the client's four)`);
    console.log(`  ratio:               ${(e2e.rate / e2e.limit).toFixed(2)} (two processes, so up to 2.0 on two cores)`);
    console.log(`  latency:             p50 ${e2e.p50.toFixed(1)} ms, p99 ${e2e.p99.toFixed(1)} ms`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await peer.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
