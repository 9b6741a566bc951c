import fs from 'node:fs/promises';
import { FaultCode, MnetFault } from '../errors.js';

/** Reads and writes in pieces of this size; also the batch for file writes. */
export const PIECE = 1 << 20;

function localFault(what: string, err: unknown): MnetFault {
  return new MnetFault(FaultCode.Internal, `${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * A file written in batches of PIECE bytes, one write in flight while the next batch fills (the write
 * runs on libuv's thread pool, in parallel with our decoding); flush() waiting for the previous write is
 * the backpressure, so at most two batches are held. A local file problem is Internal.
 */
export class BatchedFile {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly handle: fs.FileHandle) {}

  static async create(path: string): Promise<BatchedFile> {
    try {
      const handle = await fs.open(path, 'w', 0o600);
      // `mode` only applies to a new file; a truncated old one keeps its own.
      await handle.chmod(0o600);
      return new BatchedFile(handle);
    } catch (err) {
      throw localFault(`creating ${path}`, err);
    }
  }

  push(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /** Starts writing the batch once it is full (or whatever there is, with `all`, and then waits for it). */
  async flush(all: boolean): Promise<void> {
    if (all || this.pendingBytes >= PIECE) {
      await this.writing;
      const buffers = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.writing = this.writeAll(buffers);
      // Seen by the next flush; meanwhile nobody waits, so keep it from counting as unhandled.
      this.writing.catch(() => undefined);
    }
    if (all) await this.writing;
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    try {
      while (buffers.length > 0) {
        const { bytesWritten } = await this.handle.writev(buffers);
        if (bytesWritten === 0) throw new Error('no progress');
        buffers = skipBytes(buffers, bytesWritten);
      }
    } catch (err) {
      throw localFault('writing a file', err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
  }
}

/** What is left of `buffers` after the first `n` bytes (a short writev). */
function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && n >= buffers[i]!.length) n -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}
