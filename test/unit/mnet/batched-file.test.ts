import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchedFile, PIECE } from '../../../src/mnet/batched-file.js';

describe('BatchedFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-batched-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes what was pushed, in order, across batch boundaries, whatever the caller does with its buffers after', async () => {
    const file = path.join(dir, 'out.bin');
    const data = crypto.randomBytes(3 * PIECE + 12_345);
    const batched = await BatchedFile.create(file);
    const scratch = Buffer.alloc(PIECE);
    // Pieces of growing odd sizes through one reused buffer, as the decoders hand them over.
    for (let at = 0, size = 1, n = 0; at < data.length; at += n, size = size * 3 + 1) {
      n = Math.min(size, PIECE, data.length - at);
      data.copy(scratch, 0, at, at + n);
      batched.push(scratch.subarray(0, n));
      scratch.fill(0xee);
      await batched.flush(false);
    }
    await batched.flush(true);
    await batched.close();
    expect(fs.readFileSync(file).equals(data)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('holds at most a few batches however much is pushed between flushes', async () => {
    const file = path.join(dir, 'big.bin');
    const batched = await BatchedFile.create(file);
    const piece = crypto.randomBytes(PIECE / 2 + 7);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 64; i++) {
      batched.push(piece);
      await batched.flush(false);
    }
    await batched.flush(true);
    // 32 MB went through; the batches in use are reused, not 64 fresh ones.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * PIECE);
    await batched.close();
    expect(fs.statSync(file).size).toBe(64 * piece.length);
  });
});
