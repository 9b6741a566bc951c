import { MnetFault } from '../errors.js';

/**
 * Base64 decoding of a text that arrives in pieces (the huge text nodes of a fetch_file response, §7.4,
 * §11), with the rules of decodeBase64Lenient (envelope.ts): whitespace anywhere is ignored, `=` padding
 * may be missing, and anything else outside the standard alphabet is refused with the caller's fault code.
 * Keeps the 0–3 characters of an unfinished quantum between pieces.
 *
 * Speed: a piece that is pure alphabet (what Moodle writes: one line, no padding until the end) is
 * decoded by Node's native decoder once a native scan has found none of the characters it would
 * reinterpret (`-`, `_`, `=`) and its output has the full length (it skips whitespace and garbage): faster
 * than a re-encoding round trip (about 2 GB/s), which was twice a JavaScript table loop and ten times a
 * regular-expression check (measured, Node 20). Pieces that fail (wrapped lines, padding, garbage) go
 * through the table loop, which also finds the exact error. Only ASCII whitespace counts as whitespace (tab, LF, VT, FF, CR, space).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const INVALID = -0x80000000;
/** Per character: its 6 bits shifted into place for position 0..3 of a quantum, or INVALID (negative). */
const SHIFTED = [18, 12, 6, 0].map((shift) => {
  const table = new Int32Array(256).fill(INVALID);
  for (let i = 0; i < 64; i++) table[ALPHABET.charCodeAt(i)] = i << shift;
  return table;
}) as [Int32Array, Int32Array, Int32Array, Int32Array];
const [T0, T1, T2, T3] = SHIFTED;
const EQUALS = 0x3d;
const DASH = 0x2d;
const UNDERSCORE = 0x5f;
const EMPTY = Buffer.alloc(0);
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
/** Below this many characters the native round trip costs more than it saves. */
const FAST_MIN = 256;
/**
 * Characters per native round trip: strings of 1 MB go to V8's large-object space and cost twice as much
 * per byte as 64 KB ones (measured: 1.3 against 2.2 GB/s).
 */
const NATIVE_BLOCK = 64 << 10;

export class Base64Decoder {
  /** Bits of the unfinished quantum, and how many characters (0..3) it holds. */
  private acc = 0;
  private count = 0;
  /** `=` characters seen; after the first, only more `=` (at most two) and whitespace may follow. */
  private padding = 0;
  private data = false;
  /**
   * The output of the current piece, emitted in one go at its end. Reused from piece to piece: fresh
   * buffers for a gigabyte of output kept V8's garbage collector busy (see batched-file.ts).
   */
  private out = EMPTY;
  private written = 0;

  /**
   * @param onBytes receives each decoded piece, synchronously; the bytes are only valid during the call
   * @param fault builds the error for invalid input
   */
  constructor(
    private readonly onBytes: (bytes: Buffer) => void,
    private readonly fault: (reason: string) => MnetFault,
  ) {}

  /** Whether anything but whitespace has been written. */
  get sawData(): boolean {
    return this.data || this.padding > 0;
  }

  write(text: Uint8Array): void {
    const n = text.length;
    // Room for every quantum this piece can complete, together with the 0-3 characters carried over.
    const capacity = ((this.count + n) >> 2) * 3;
    if (this.out.length < capacity) this.out = Buffer.allocUnsafeSlow(capacity);
    this.written = 0;
    // After one failed native attempt the piece is not pure alphabet (e.g. wrapped lines): trying again
    // after every line would make a piece cost quadratic time.
    let tryNative = true;
    let k = 0;
    while (k < n) {
      if (this.count === 0 && this.padding === 0) {
        const run = Math.min((n - k) & ~3, NATIVE_BLOCK);
        if (tryNative && run >= FAST_MIN) {
          if (this.decodeNative(text, k, k + run)) {
            k += run;
            continue;
          }
          tryNative = false;
        }
        k = this.decodeQuanta(text, k);
        if (k >= n) break;
      }
      k = this.decodeSlow(text, k);
    }
    if (this.written > 0) this.onBytes(this.out.subarray(0, this.written));
  }

  /** Ends the text: emits the last 1–2 bytes of an unpadded or padded final quantum. */
  end(): void {
    if (this.count === 1) throw this.fault('truncated (a lone character in the last quantum)');
    // The bits of 2 or 3 characters, placed as if the quantum were complete.
    const a = this.acc << (6 * (4 - this.count));
    if (this.count === 2) this.onBytes(Buffer.from([(a >>> 16) & 0xff]));
    if (this.count === 3) this.onBytes(Buffer.from([(a >>> 16) & 0xff, (a >>> 8) & 0xff]));
    this.count = 0;
    this.acc = 0;
  }

  private decodeNative(text: Uint8Array, from: number, to: number): boolean {
    const piece = Buffer.from(text.buffer, text.byteOffset + from, to - from);
    // Node's decoder also reads base64url's `-` and `_`, and stops at `=`: those are looked for natively
    // (memchr). Anything else outside the alphabet (whitespace, garbage, non-ASCII) it skips, which makes
    // the output shorter than three bytes per four characters (what it did write is then overwritten).
    if (piece.indexOf(DASH) >= 0 || piece.indexOf(UNDERSCORE) >= 0 || piece.indexOf(EQUALS) >= 0) return false;
    const expected = ((to - from) >> 2) * 3;
    if (this.out.write(piece.toString('latin1'), this.written, expected, 'base64') !== expected) return false;
    this.data = true;
    this.written += expected;
    return true;
  }

  /** Decodes whole valid quanta from `k`; returns where it stopped (a quantum with anything else in it). */
  private decodeQuanta(text: Uint8Array, k: number): number {
    const limit = text.length - 3;
    const out = this.out;
    let w = this.written;
    while (k < limit) {
      const v = T0[text[k]!]! | T1[text[k + 1]!]! | T2[text[k + 2]!]! | T3[text[k + 3]!]!;
      if (v < 0) break;
      out[w] = v >>> 16;
      out[w + 1] = v >>> 8;
      out[w + 2] = v;
      w += 3;
      k += 4;
    }
    if (w > this.written) this.data = true;
    this.written = w;
    return k;
  }

  /** One character at a time, until a quantum is complete again (or the piece ends). */
  private decodeSlow(text: Uint8Array, k: number): number {
    const n = text.length;
    while (k < n) {
      const c = text[k++]!;
      const v = T3[c]!;
      if (v >= 0) {
        if (this.padding > 0) throw this.fault('data after the = padding');
        this.data = true;
        this.acc = (this.acc << 6) | v;
        if (++this.count === 4) {
          const a = this.acc;
          const w = this.written;
          const out = this.out;
          out[w] = a >>> 16;
          out[w + 1] = a >>> 8;
          out[w + 2] = a;
          this.written = w + 3;
          this.acc = 0;
          this.count = 0;
          return k;
        }
      } else if (c === EQUALS) {
        if (++this.padding > 2) throw this.fault('more than two = padding characters');
      } else if (!isSpace(c)) {
        throw this.fault(`character 0x${c.toString(16).padStart(2, '0')} is not base64`);
      }
    }
    return k;
  }
}
