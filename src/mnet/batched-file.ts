import fs from 'node:fs/promises';
import { FaultCode, MnetFault } from '../errors.js';

/** Reads and writes in pieces of this size; also the batch for file writes. */
export const PIECE = 1 << 20;

/** A local file problem (ours, not the peer's): Internal, saying what failed and why. */
export function localFault(what: string, err: unknown): MnetFault {
  return new MnetFault(FaultCode.Internal, `${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * A file written in batches of PIECE bytes, one write in flight while the next batch fills (the write
 * runs on libuv's thread pool, in parallel with our decoding); flush() waiting for the previous write is
 * the backpressure. push() copies: the decoders hand over views of buffers they reuse, and batch buffers
 * are reused too, because a gigabyte of fresh buffers made V8 run a full garbage collection every 50 MB
 * or so, which took half a core from the two passes of a fetch_file (file-response.ts). Writes are
 * positional, so rewind() can start over at the file's beginning (pass 2 of a fetch_file writes its result
 * over its own spool). A local file problem is Internal.
 */
export class BatchedFile {
  /** The batch being filled, and how much of it is. */
  private filling: Buffer | undefined;
  private filled = 0;
  /** Batches ready to be written (each a whole PIECE but perhaps the last, on flush(true)). */
  private ready: Buffer[] = [];
  /** Batch buffers whose write has finished, to be filled again. */
  private readonly spare: Buffer[] = [];
  private writing: Promise<void> = Promise.resolve();
  /** Where the next batch goes. */
  private position = 0;
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

  /** Copies `bytes` into the batch; the caller may reuse them at once. */
  push(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      // Its own ArrayBuffer, so that a batch cut short by flush(true) can be reused whole.
      this.filling ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(PIECE);
      const n = Math.min(PIECE - this.filled, bytes.length - at);
      this.filling.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === PIECE) this.nextBatch();
    }
  }

  /** Starts writing the full batches, if any (and the partial one, with `all`, and then waits for it). */
  async flush(all: boolean): Promise<void> {
    if (all && this.filled > 0) this.nextBatch();
    if (this.ready.length > 0) {
      await this.writing;
      const batches = this.ready;
      this.ready = [];
      const at = this.position;
      for (const batch of batches) this.position += batch.length;
      this.writing = this.writeAll(batches, at).then(() => {
        for (const batch of batches) this.spare.push(Buffer.from(batch.buffer, batch.byteOffset, PIECE));
      });
      // Seen by the next flush; meanwhile nobody waits, so keep it from counting as unhandled.
      this.writing.catch(() => undefined);
    }
    if (all) await this.writing;
  }

  /** Writes what is pending, then goes back to the start: what is pushed next overwrites the file. */
  async rewind(): Promise<void> {
    await this.flush(true);
    this.position = 0;
  }

  /** Writes what is pending, then cuts the file to `length` bytes. */
  async truncate(length: number): Promise<void> {
    await this.flush(true);
    try {
      await this.handle.truncate(length);
    } catch (err) {
      throw localFault('truncating a file', err);
    }
  }

  private nextBatch(): void {
    this.ready.push(this.filling!.subarray(0, this.filled));
    this.filling = undefined;
    this.filled = 0;
  }

  private async writeAll(buffers: Buffer[], position: number): Promise<void> {
    try {
      while (buffers.length > 0) {
        const { bytesWritten } = await this.handle.writev(buffers, position);
        if (bytesWritten === 0) throw new Error('no progress');
        buffers = skipBytes(buffers, bytesWritten);
        position += bytesWritten;
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
