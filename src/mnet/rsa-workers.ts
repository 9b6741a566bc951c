import crypto from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The raw RSA private operation of rsa.ts (RSA_NO_PADDING, i.e. the modular exponentiation alone) on a
 * small pool of worker threads. It is the largest single cost of an incoming envelope (about 0.34 ms for
 * a 2048-bit key) and Node has no asynchronous privateDecrypt, so on the main thread it held up every
 * other request for that long. Only the exponentiation moves here: the constant-time unpadding and the
 * implicit rejection stay with the caller, so nothing that depends on the padding crosses a thread.
 *
 * The workers are JavaScript source evaluated as such, because a worker thread cannot load our TypeScript
 * (neither under tsx nor under vitest) without loader tricks (spool-decrypt.ts does the same).
 *
 * Keys: each worker gets its own copy of a key, imported from PKCS#8 DER sent with its first job for that
 * key, and keeps it. Not the KeyObject itself (it can be posted), because a posted KeyObject shares the
 * original's OpenSSL key and the mutex Node holds around it, and the workers would then wait for each
 * other and for the main thread's signatures with the same key. There are only ever a handful of keys
 * (our current pair and its history), so nothing is evicted.
 *
 * Lifetime: a worker starts on first need, up to one per core. It keeps the process alive only while it
 * has work (ref'd from its first pending job to its last answer), so a CLI command or a test file ends
 * when its own work is done without closing anything. A worker that dies fails its pending jobs (the
 * caller sees an error, never a wrong block) and is replaced on next use.
 */

const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const keys = new Map();
const padding = crypto.constants.RSA_NO_PADDING;
parentPort.on('message', ({ id, keyId, der, input }) => {
  if (der) keys.set(keyId, crypto.createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }));
  let block = null;
  try {
    block = crypto.privateDecrypt({ key: keys.get(keyId), padding }, input);
  } catch {
    // Not below the modulus (or not the modulus' length): the caller treats it as a bad padding.
  }
  parentPort.postMessage({ id, block });
});
`;

interface Job {
  resolve: (block: Buffer | null) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Job>;
  /** Numbers of the keys this worker already has. */
  readonly keys: Set<number>;
}

interface KeyEntry {
  id: number;
  der: Buffer;
}

const POOL_SIZE = Math.max(1, os.availableParallelism());
const workers: PoolWorker[] = [];
const keyEntries = new WeakMap<crypto.KeyObject, KeyEntry>();
let nextKeyId = 1;
let nextJobId = 1;

function keyEntry(privateKey: crypto.KeyObject): KeyEntry {
  let entry = keyEntries.get(privateKey);
  if (!entry) {
    entry = { id: nextKeyId++, der: privateKey.export({ type: 'pkcs8', format: 'der' }) };
    keyEntries.set(privateKey, entry);
  }
  return entry;
}

function startWorker(): PoolWorker {
  // No execArgv: the worker is plain JavaScript and needs none of our loaders (tsx), which would only slow its start.
  const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  const entry: PoolWorker = { worker, pending: new Map(), keys: new Set() };
  worker.unref();
  worker.on('message', ({ id, block }: { id: number; block: Uint8Array | null }) => {
    const job = entry.pending.get(id);
    if (!job) return;
    entry.pending.delete(id);
    if (entry.pending.size === 0) worker.unref();
    job.resolve(block && Buffer.from(block.buffer, block.byteOffset, block.byteLength));
  });
  const fail = (err: Error) => {
    const index = workers.indexOf(entry);
    if (index >= 0) workers.splice(index, 1);
    for (const job of entry.pending.values()) job.reject(err);
    entry.pending.clear();
  };
  worker.on('error', (err) => fail(new Error(`an RSA worker failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => fail(new Error(`an RSA worker stopped (exit code ${code})`)));
  workers.push(entry);
  return entry;
}

/** An idle worker; else a new one while there are fewer than one per core; else the least busy one. */
function chooseWorker(): PoolWorker {
  let best: PoolWorker | undefined;
  for (const w of workers) {
    if (w.pending.size === 0) return w;
    if (!best || w.pending.size < best.pending.size) best = w;
  }
  return best && workers.length >= POOL_SIZE ? best : startWorker();
}

/**
 * `input` (as long as the modulus) raised to the private exponent, as crypto.privateDecrypt with
 * RSA_NO_PADDING computes it, on a worker thread. Resolves null when OpenSSL refuses the input (not
 * numerically below the modulus); rejects only when the worker itself failed.
 */
export function rawPrivateDecrypt(privateKey: crypto.KeyObject, input: Buffer): Promise<Buffer | null> {
  const key = keyEntry(privateKey);
  const target = chooseWorker();
  const id = nextJobId++;
  const der = target.keys.has(key.id) ? undefined : key.der;
  // A copy of its own, moved rather than cloned: `input` may be a view into Buffer's shared pool.
  const bytes = Uint8Array.from(input);
  return new Promise((resolve, reject) => {
    if (target.pending.size === 0) target.worker.ref();
    target.pending.set(id, { resolve, reject });
    target.worker.postMessage({ id, keyId: key.id, der, input: bytes }, [bytes.buffer]);
    target.keys.add(key.id);
  });
}
