import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { FaultCode, MnetFault } from '../errors.js';
import { Rc4 } from './rc4.js';

/**
 * Reads an RC4-encrypted file and yields it decrypted, in pieces, with the reading and the RC4 done on a
 * worker thread: pass 2 of a fetch_file response (file-response.ts) is otherwise half RC4 and half
 * parsing, hashing and base64, and the two now run on two cores. Measured (200 MB zip, 355 MB spool):
 * pass 2 from about 2.9 s to 1.0–1.6 s. Reading and decrypting a 1 GB file here now runs at about
 * 500 MB/s with nothing else to do (scratch measurement: the worker alone, its pieces only counted).
 *
 * The worker is JavaScript source evaluated as such, because a worker thread cannot load our TypeScript
 * (neither under tsx nor under vitest) without loader tricks. That means the ~15 lines of RC4 below repeat
 * Rc4 in rc4.ts; test/unit/mnet/spool-decrypt.test.ts checks that both give the same bytes.
 *
 * Memory: CREDITS slots of `pieceSize` in one SharedArrayBuffer; the two threads pass slot numbers. Moving
 * (transferring) the buffers themselves back and forth made the worker's RC4 itself run at 290–370 MB/s
 * instead of 430–580 MB/s (measured apart, same code; the cause was not found). The file descriptor
 * belongs to this thread and is closed here, whatever happens to the worker.
 */

const CREDITS = 4;
/** Spools up to this size are decrypted on the calling thread (see decryptSpool). */
const SMALL_SPOOL_BYTES = 1 << 20;

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { fd, key, pieceSize, shared } = workerData;
const slots = [];
for (let at = 0; at < shared.byteLength; at += pieceSize) slots.push(new Uint8Array(shared, at, pieceSize));

// RC4 key schedule and keystream: the same as class Rc4 in src/mnet/rc4.ts.
const s = new Int32Array(256);
for (let i = 0; i < 256; i++) s[i] = i;
for (let i = 0, j = 0; i < 256; i++) {
  const si = s[i];
  j = (j + si + key[i % key.length]) & 0xff;
  s[i] = s[j];
  s[j] = si;
}
let stateI = 0;
let stateJ = 0;
function xorKeystream(buf, n) {
  const st = s;
  let i = stateI;
  let j = stateJ;
  let si;
  let sj;
  const whole = n & ~3;
  let k = 0;
  for (; k < whole; k += 4) {
    i = (i + 1) & 0xff; si = st[i]; j = (j + si) & 0xff; sj = st[j]; st[i] = sj; st[j] = si; buf[k] ^= st[(si + sj) & 0xff];
    i = (i + 1) & 0xff; si = st[i]; j = (j + si) & 0xff; sj = st[j]; st[i] = sj; st[j] = si; buf[k + 1] ^= st[(si + sj) & 0xff];
    i = (i + 1) & 0xff; si = st[i]; j = (j + si) & 0xff; sj = st[j]; st[i] = sj; st[j] = si; buf[k + 2] ^= st[(si + sj) & 0xff];
    i = (i + 1) & 0xff; si = st[i]; j = (j + si) & 0xff; sj = st[j]; st[i] = sj; st[j] = si; buf[k + 3] ^= st[(si + sj) & 0xff];
  }
  for (; k < n; k++) {
    i = (i + 1) & 0xff; si = st[i]; j = (j + si) & 0xff; sj = st[j]; st[i] = sj; st[j] = si; buf[k] ^= st[(si + sj) & 0xff];
  }
  stateI = i;
  stateJ = j;
}

// Each message is a credit: the number of a slot the reader is done with, to be filled with the next piece.
let done = false;
parentPort.on('message', (slot) => {
  if (done) return;
  try {
    const buf = slots[slot];
    const n = fs.readSync(fd, buf, 0, pieceSize, null);
    if (n === 0) {
      done = true;
      parentPort.postMessage({ done: true });
      return;
    }
    xorKeystream(buf, n);
    parentPort.postMessage({ slot, length: n });
  } catch (err) {
    done = true;
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;

type WorkerMessage = { slot: number; length: number } | { done: true } | { error: string };

function readFault(err: unknown): MnetFault {
  const message = err instanceof Error ? err.message : String(err);
  return new MnetFault(FaultCode.Internal, `reading the spool file failed: ${message}`, { cause: err });
}

/**
 * The file at `path` decrypted with RC4 `key` from its first byte, in pieces of up to `pieceSize` bytes.
 * A piece is only valid until the next one is asked for: its memory goes back to the worker then, to be
 * filled again. Stopping early (break, throw) stops the worker and closes the file.
 */
export async function* decryptSpool(path: string, key: Buffer, pieceSize = 1 << 20): AsyncGenerator<Buffer> {
  const handle = await fs.open(path, 'r').catch((err: unknown) => {
    throw readFault(err);
  });
  // Starting a worker costs tens of milliseconds, more than RC4 of a small package takes here: the queue
  // benchmark's one-file imports spent most of their time on it (bench/queue-drain.ts).
  const { size } = await handle.stat().catch(async (err: unknown) => {
    await handle.close().catch(() => undefined);
    throw readFault(err);
  });
  if (size <= SMALL_SPOOL_BYTES) {
    try {
      const { buffer } = await handle.read({ buffer: Buffer.alloc(size), position: 0 });
      yield new Rc4(key).update(buffer, buffer);
    } catch (err) {
      throw err instanceof MnetFault ? err : readFault(err);
    } finally {
      await handle.close().catch(() => undefined);
    }
    return;
  }
  // No execArgv: the worker is plain JavaScript and needs none of our loaders (tsx), which would only slow its start.
  const shared = new SharedArrayBuffer(CREDITS * pieceSize);
  const slots = Array.from({ length: CREDITS }, (_, i) => Buffer.from(shared, i * pieceSize, pieceSize));
  const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { fd: handle.fd, key: Uint8Array.from(key), pieceSize, shared } });
  const inbox: WorkerMessage[] = [];
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (message: WorkerMessage) => {
    inbox.push(message);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`the spool worker stopped (exit code ${code})`);
    notify();
  });
  try {
    for (let slot = 0; slot < CREDITS; slot++) worker.postMessage(slot);
    for (;;) {
      while (inbox.length === 0) {
        if (failure !== undefined) throw readFault(failure);
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const message = inbox.shift()!;
      if ('error' in message) throw readFault(new Error(message.error));
      if ('done' in message) return;
      yield slots[message.slot]!.subarray(0, message.length);
      // The consumer is done with it: back to the worker, to be filled again.
      worker.postMessage(message.slot);
    }
  } finally {
    await worker.terminate();
    await handle.close().catch(() => undefined);
  }
}
