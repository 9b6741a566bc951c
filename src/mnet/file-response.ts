import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import { FaultCode, MnetFault } from '../errors.js';
import { Base64Decoder } from './base64-stream.js';
import {
  ENVELOPE_KEY_PROBE_BYTES,
  decodeBase64Lenient,
  findEnvelopeKey,
  parseEnvelopeTimestamp,
  type DecryptionKey,
} from './envelope.js';
import { decryptSpool } from './spool-decrypt.js';
import { XmlStreamTokenizer, type XmlStreamHandler } from './xml-stream.js';

/**
 * Reading a response whose result is a file (fetch_file, §7.4) without holding it: the streaming twin of
 * what MnetClient.callOnce does with parseXml, readEncryptedMessage, decryptEnvelope, readSignedMessage
 * and decodeMethodResponse. Memory stays at a few MB whatever the size (§11, portfolio-import §2.4).
 *
 * The wire order forces two passes (§4.2): the outer `CipherValue` with the data comes *before* the one
 * with its RC4 key. Pass 1 (the HTTP body) base64-decodes the data into a spool file next to the target
 * and keeps the small parts. Pass 2 finds the key (our current or older keys, as decryptEnvelope does),
 * reads the spool through RC4 and a second tokenizer for the signedMessage, whose `object` is
 * base64-decoded into the XML-RPC payload; the payload is hashed for the RSA-SHA1 signature as it goes
 * and read by a third tokenizer, whose `<string>` (or `<base64>`, or bare `<value>`) text is decoded into
 * the target file. The reading and RC4 of pass 2 run on a worker thread (spool-decrypt.ts). The signature
 * is known to be good only at the end: until the caller calls keep(), dispose() removes the target as well
 * as the spool.
 *
 * Speed (bench/fetch-file.ts, 2 vCPUs): for a 200 MB zip about 340 MB/s of body in pass 1 and 130–170
 * MB/s of file in pass 2, where RC4 (about 350 MB/s of ciphertext, 1.78 bytes per file byte) is the limit;
 * for 1 GB about 260 and 110–120, with the kernel's page-cache writeback competing for the CPUs.
 *
 * Every refusal of the peer's bytes is BadResponse (a broken answer, as for callOnce); more decoded bytes
 * than `maxBytes` is BodyTooLarge; a local file problem is Internal.
 */

export interface FileResponseOptions {
  /** Where the decoded file goes; the spool is `${path}.spool`. Both are created (or truncated) mode 0600. */
  path: string;
  /** Most decoded bytes accepted in the target. */
  maxBytes: number;
  /** Most bytes of a plain (unencrypted) methodResponse body, which is held to be decoded as a fault. */
  maxPlainBytes: number;
  /** Names the peer in messages. */
  peerLabel: string;
}

/** What pass 1 found. */
export type ReceivedBody = { plain: Buffer } | { encrypted: true };

export interface OpenedFileResponse {
  /** The signed envelope's wwwroot (surrounding whitespace removed) and timestamp. */
  wwwroot: string;
  timestamp: number;
  /** Whether the signature verifies with the key given to open(). */
  verified: boolean;
  /** The payload's fault, or the file written to the target. */
  result: { fault: Buffer } | { bytes: number; sha1: string };
}

/**
 * The HTTP body a file of `maxBytes` can arrive in: base64 (outer CipherValue) of RC4 of base64 (signed
 * object) of the XML-RPC document around base64 of the file, so about 64/27 × maxBytes; an eighth more
 * for base64 wrapped at 76 columns with CRLF at all three levels ((78/76)^3 ≈ 1.08), and 1 MiB for the
 * envelopes themselves.
 */
export function fileResponseBodyLimit(maxBytes: number): number {
  return Math.ceil(((maxBytes * 64) / 27) * 1.125) + (1 << 20);
}

/** Reads and writes in pieces of this size; also the batch for file writes. */
const PIECE = 1 << 20;
/** A fault payload is small; one bigger than this is not a fault we want to read. */
const MAX_FAULT_BYTES = 1 << 20;
/** Small texts we keep (keys, wwwroot, timestamp, signature). */
const MAX_SMALL_TEXT = 64 << 10;

export class FileResponseReceiver {
  private readonly spoolPath: string;
  private spool: BatchedFile | undefined;
  private target: BatchedFile | undefined;
  private kept = false;
  private outer: OuterReader | undefined;

  private constructor(private readonly options: FileResponseOptions) {
    this.spoolPath = `${options.path}.spool`;
  }

  /** Creates the target and the spool file. */
  static async create(options: FileResponseOptions): Promise<FileResponseReceiver> {
    const receiver = new FileResponseReceiver(options);
    try {
      receiver.target = await BatchedFile.create(options.path);
      receiver.spool = await BatchedFile.create(receiver.spoolPath);
    } catch (err) {
      await receiver.dispose();
      throw err;
    }
    return receiver;
  }

  /** Pass 1: the sink for the HTTP body. */
  sink(): Writable {
    const spool = this.spool!;
    const outer = (this.outer = new OuterReader(this.options, (bytes) => spool.push(bytes)));
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        try {
          outer.write(chunk);
        } catch (err) {
          return callback(err as Error);
        }
        spool.flush(false).then(() => callback(), callback);
      },
      final(callback) {
        try {
          outer.end();
        } catch (err) {
          return callback(err as Error);
        }
        spool.flush(true).then(() => callback(), callback);
      },
    });
  }

  /** After pass 1: a plain methodResponse body (to be decoded as a fault), or an encrypted envelope. */
  received(): ReceivedBody {
    const outer = this.outer;
    if (!outer) throw new MnetFault(FaultCode.Internal, 'FileResponseReceiver: no body was received');
    return outer.plain ? { plain: outer.plain } : { encrypted: true };
  }

  /**
   * Pass 2: decrypts the spool with the first of `keys` that fits, reads the signed envelope, verifies its
   * signature with `peerKey` and writes the file (or collects the fault).
   */
  async open(keys: readonly DecryptionKey[], peerKey: crypto.KeyObject): Promise<OpenedFileResponse> {
    const { options } = this;
    const outer = this.outer!;
    const bad = (what: string) => new MnetFault(FaultCode.BadResponse, `${options.peerLabel} sent a malformed response: ${what}`);
    const found = findEnvelopeKey(outer.encryptedKey(), outer.probe, keys);
    if (!found) throw new MnetFault(FaultCode.BadResponse, `${options.peerLabel}: response could not be decrypted with our keys`);

    const target = this.target!;
    const sha1 = crypto.createHash('sha1');
    let bytes = 0;
    const signed = new SignedReader(options, (decoded) => {
      bytes += decoded.length;
      if (bytes > options.maxBytes) {
        throw new MnetFault(FaultCode.BodyTooLarge, `${options.peerLabel} sent a file of more than ${options.maxBytes} bytes`);
      }
      sha1.update(decoded);
      target.push(decoded);
    });
    // The worker thread reads and decrypts while this one parses, hashes and writes.
    for await (const plaintext of decryptSpool(this.spoolPath, found.rc4Key, PIECE)) {
      signed.write(plaintext);
      await target.flush(false);
    }
    const message = signed.end();
    await target.flush(true);

    const verified =
      peerKey.asymmetricKeyType === 'rsa' &&
      message.verifier.verify(
        { key: peerKey, padding: crypto.constants.RSA_PKCS1_PADDING },
        decodeBase64Lenient(message.signature, FaultCode.BadResponse, 'SignatureValue'),
      );
    const timestamp = parseEnvelopeTimestamp(message.timestamp);
    if (timestamp === undefined) throw bad('signed message: missing or malformed timestamp');
    return {
      wwwroot: message.wwwroot,
      timestamp,
      verified,
      result: message.fault ? { fault: message.fault } : { bytes, sha1: sha1.digest('hex') },
    };
  }

  /** The target is the caller's now: dispose() leaves it in place. */
  keep(): void {
    this.kept = true;
  }

  /**
   * Closes everything and removes the spool, and the target unless keep() was called (only files this
   * receiver created: a target it could not open is left alone). Never throws.
   */
  async dispose(): Promise<void> {
    await Promise.all([this.spool?.close(), this.target?.close()]);
    if (this.spool) await fs.rm(this.spoolPath, { force: true }).catch(() => undefined);
    if (this.target && !this.kept) await fs.rm(this.options.path, { force: true }).catch(() => undefined);
  }
}

function localFault(what: string, err: unknown): MnetFault {
  return new MnetFault(FaultCode.Internal, `${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * A file written in batches of PIECE bytes, one write in flight while the next batch fills (the write
 * runs on libuv's thread pool, in parallel with our decoding); flush() waiting for the previous write is
 * the backpressure, so at most two batches are held.
 */
class BatchedFile {
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

/** The local name (`CipherValue` of `xenc:CipherValue`): envelope children are read by local name, as readers do. */
function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/** Collects a small text, bounded; bytes until the end, so a character split between pieces stays whole. */
class TextCollector {
  private readonly pieces: Buffer[] = [];
  private length = 0;
  private seen = false;

  constructor(
    private readonly fault: (what: string) => MnetFault,
    private readonly what: string,
  ) {}

  /** The element opens (again: refused, as a second one would be ambiguous). */
  open(): void {
    if (this.seen) throw this.fault(`more than one ${this.what}`);
    this.seen = true;
  }

  write(bytes: Buffer): void {
    this.length += bytes.length;
    if (this.length > MAX_SMALL_TEXT) throw this.fault(`${this.what} is too long`);
    this.pieces.push(Buffer.from(bytes));
  }

  get value(): string {
    return Buffer.concat(this.pieces).toString('utf8');
  }
}

/** Routes each element's text by its path; shared by the outer and the signed envelope readers. */
abstract class EnvelopeReader implements XmlStreamHandler {
  protected readonly path: string[] = [];
  /** Per open element: where its text goes (a collector, a streaming decoder), or nowhere. */
  private readonly sinks: Array<TextCollector | Base64Decoder | undefined> = [];
  protected readonly tokenizer: XmlStreamTokenizer;

  constructor(protected readonly fault: (what: string) => MnetFault) {
    this.tokenizer = new XmlStreamTokenizer(this, FaultCode.BadResponse);
  }

  /** Where the text of the element at `path` goes; `root` is the root's qualified name. */
  protected abstract route(path: readonly string[], root: string): TextCollector | Base64Decoder | undefined;

  onOpen(name: string): boolean {
    this.path.push(this.path.length === 0 ? name : localName(name));
    const sink = this.route(this.path, name);
    if (sink instanceof TextCollector) sink.open();
    this.sinks.push(sink);
    return sink instanceof Base64Decoder;
  }

  onClose(): void {
    this.path.pop();
    const sink = this.sinks.pop();
    if (sink instanceof Base64Decoder) sink.end();
  }

  onText(text: Buffer): void {
    const sink = this.sinks[this.sinks.length - 1];
    if (sink) sink.write(text);
  }
}

/**
 * Pass 1, the `encryptedMessage` (§4.2): EncryptedData/CipherData/CipherValue streamed (decoded) to the
 * spool; EncryptedKey/CipherData/CipherValue and wwwroot kept. A plain `methodResponse` (a fault produced
 * before the peer could open our request, §2.3) is kept whole for the codec.
 */
class OuterReader extends EnvelopeReader {
  /** The first ENVELOPE_KEY_PROBE_BYTES of the data, to find the key before pass 2. */
  probe = Buffer.alloc(0);
  plain: Buffer | undefined;
  private mode: 'unknown' | 'plain' | 'encrypted' = 'unknown';
  private readonly raw: Buffer[] = [];
  private rawBytes = 0;
  private readonly data: Base64Decoder;
  private dataOpened = false;
  private readonly key: TextCollector;
  private readonly wwwroot: TextCollector;

  constructor(
    private readonly options: FileResponseOptions,
    onData: (bytes: Buffer) => void,
  ) {
    super((what) => new MnetFault(FaultCode.BadResponse, `${options.peerLabel} sent a malformed response: ${what}`));
    this.data = new Base64Decoder(
      (bytes) => {
        if (this.probe.length < ENVELOPE_KEY_PROBE_BYTES) {
          this.probe = Buffer.concat([this.probe, bytes.subarray(0, ENVELOPE_KEY_PROBE_BYTES - this.probe.length)]);
        }
        onData(bytes);
      },
      (reason) => this.fault(`EncryptedData CipherValue is not valid base64 (${reason})`),
    );
    this.key = new TextCollector(this.fault, 'EncryptedKey CipherValue');
    this.wwwroot = new TextCollector(this.fault, 'outer wwwroot');
  }

  write(chunk: Buffer): void {
    if (this.mode !== 'encrypted') {
      this.rawBytes += chunk.length;
      if (this.rawBytes > this.options.maxPlainBytes) {
        throw new MnetFault(FaultCode.BodyTooLarge, `${this.options.peerLabel} sent a plain response over the limit`);
      }
      this.raw.push(chunk);
    }
    this.tokenizer.write(chunk);
  }

  end(): void {
    this.tokenizer.end();
    if (this.mode === 'plain') {
      this.plain = Buffer.concat(this.raw);
      return;
    }
    // As readEncryptedMessage: both CipherValues and the wwwroot must be there and not empty.
    if (!this.data.sawData) throw this.fault('no EncryptedData CipherValue');
    if (!this.key.value.trim()) throw this.fault('no EncryptedKey CipherValue');
    if (!this.wwwroot.value.trim()) throw this.fault('no outer wwwroot');
  }

  encryptedKey(): Buffer {
    return decodeBase64Lenient(this.key.value, FaultCode.BadResponse, 'EncryptedKey CipherValue');
  }

  protected route(path: readonly string[], root: string): TextCollector | Base64Decoder | undefined {
    if (path.length === 1) {
      // As callOnce: the root decides (§1.3), by its exact name.
      if (root === 'methodResponse') this.mode = 'plain';
      else if (root === 'encryptedMessage') {
        this.mode = 'encrypted';
        this.raw.length = 0;
      } else throw new MnetFault(FaultCode.BadResponse, `${this.options.peerLabel}: not an MNet response`);
      return undefined;
    }
    if (this.mode !== 'encrypted') return undefined;
    if (path.length === 2 && path[1] === 'wwwroot') return this.wwwroot;
    if (path.length === 4 && path[2] === 'CipherData' && path[3] === 'CipherValue') {
      if (path[1] === 'EncryptedData') {
        if (this.dataOpened) throw this.fault('more than one EncryptedData CipherValue');
        this.dataOpened = true;
        return this.data;
      }
      if (path[1] === 'EncryptedKey') return this.key;
    }
    return undefined;
  }
}

/**
 * Pass 2, the decrypted `signedMessage` (§3.1): `object` streamed (decoded) into the payload, which is
 * hashed for the signature and read by a PayloadReader; SignatureValue, wwwroot and timestamp kept.
 */
class SignedReader extends EnvelopeReader {
  readonly verifier = crypto.createVerify('sha1');
  private readonly object: Base64Decoder;
  private objectOpened = false;
  private readonly payload: PayloadReader;
  private readonly signature: TextCollector;
  private readonly wwwroot: TextCollector;
  private readonly timestamp: TextCollector;

  constructor(
    private readonly options: FileResponseOptions,
    onFileBytes: (bytes: Buffer) => void,
  ) {
    super((what) => new MnetFault(FaultCode.BadResponse, `${options.peerLabel} sent a malformed response: ${what}`));
    this.payload = new PayloadReader(this.fault, onFileBytes);
    this.object = new Base64Decoder(
      (bytes) => {
        this.verifier.update(bytes);
        this.payload.write(bytes);
      },
      (reason) => this.fault(`signed object is not valid base64 (${reason})`),
    );
    this.signature = new TextCollector(this.fault, 'SignatureValue');
    this.wwwroot = new TextCollector(this.fault, 'signed wwwroot');
    this.timestamp = new TextCollector(this.fault, 'timestamp');
  }

  write(plaintext: Buffer): void {
    this.tokenizer.write(plaintext);
  }

  end(): { verifier: crypto.Verify; signature: string; wwwroot: string; timestamp: string; fault: Buffer | undefined } {
    this.tokenizer.end();
    // As readSignedMessage: every part present and not empty.
    if (!this.signature.value.trim()) throw this.fault('signed message: no SignatureValue');
    if (!this.objectOpened || !this.object.sawData) throw this.fault('signed message: no object');
    if (!this.wwwroot.value.trim()) throw this.fault('signed message: no wwwroot');
    return {
      verifier: this.verifier,
      signature: this.signature.value,
      wwwroot: this.wwwroot.value.trim(),
      timestamp: this.timestamp.value,
      fault: this.payload.end(),
    };
  }

  protected route(path: readonly string[], root: string): TextCollector | Base64Decoder | undefined {
    if (path.length === 1) {
      if (root !== 'signedMessage') throw new MnetFault(FaultCode.BadResponse, `${this.options.peerLabel}: payload not signed`);
      return undefined;
    }
    if (path.length === 2) {
      switch (path[1]) {
        case 'object':
          if (this.objectOpened) throw this.fault('more than one signed object');
          this.objectOpened = true;
          return this.object;
        case 'wwwroot':
          return this.wwwroot;
        case 'timestamp':
          return this.timestamp;
      }
    }
    if (path.length === 3 && path[1] === 'Signature' && path[2] === 'SignatureValue') return this.signature;
    return undefined;
  }
}

/**
 * The XML-RPC payload (§2.2, with the shape rules of decodeMethodResponse): `methodResponse/params/param/
 * value` holding `<string>`, `<base64>` or bare text, decoded into the file; or a `fault`, kept whole (it
 * is small) for the codec. Anything else is BadResponse: a file result must be a string.
 */
class PayloadReader implements XmlStreamHandler {
  private readonly tokenizer: XmlStreamTokenizer;
  private readonly path: string[] = [];
  private mode: 'unknown' | 'params' | 'fault' = 'unknown';
  /** The payload from its start while it may still turn out to be a fault. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private params = 0;
  private values = 0;
  /** Decodes the value's text: bare, or of its one `<string>`/`<base64>` child. */
  private readonly value: Base64Decoder;
  private typed = 0;

  constructor(
    private readonly fault: (what: string) => MnetFault,
    onFileBytes: (bytes: Buffer) => void,
  ) {
    this.tokenizer = new XmlStreamTokenizer(this, FaultCode.BadResponse);
    this.value = new Base64Decoder(onFileBytes, (reason) => this.fault(`the result is not valid base64 (${reason})`));
  }

  write(bytes: Buffer): void {
    if (this.mode !== 'params') {
      this.headBytes += bytes.length;
      if (this.headBytes > MAX_FAULT_BYTES) throw this.fault(`a fault of more than ${MAX_FAULT_BYTES} bytes`);
      this.head.push(Buffer.from(bytes));
    }
    this.tokenizer.write(bytes);
  }

  /** The payload of a fault, for the codec; undefined when the file was written. */
  end(): Buffer | undefined {
    this.tokenizer.end();
    if (this.mode === 'fault') return Buffer.concat(this.head);
    if (this.mode !== 'params') throw this.fault('<methodResponse> must hold <params> or <fault>');
    if (this.values !== 1) throw this.fault('a response carries one value');
    return undefined;
  }

  onOpen(name: string): boolean {
    const local = localName(name);
    this.path.push(local);
    const depth = this.path.length;
    if (depth === 1) {
      if (local !== 'methodResponse') throw this.fault(`root element is <${name}>, not <methodResponse>`);
    } else if (depth === 2) {
      if (this.mode !== 'unknown') throw this.fault('<methodResponse> must hold <params> or <fault>');
      if (local === 'fault') this.mode = 'fault';
      else if (local === 'params') {
        this.mode = 'params';
        this.head = [];
      } else throw this.fault(`unexpected <${name}> in <methodResponse>`);
    } else if (this.mode === 'fault') {
      // Read by the codec at the end.
    } else if (depth === 3) {
      if (local !== 'param' || ++this.params > 1) throw this.fault('a response carries one value');
    } else if (depth === 4) {
      if (local !== 'value' || ++this.values > 1) throw this.fault('<param> must hold one <value>');
      return true;
    } else if (depth === 5) {
      if (local !== 'string' && local !== 'base64') throw this.fault(`the result is <${name}>, not a string`);
      if (++this.typed > 1 || this.value.sawData) throw this.fault('<value> must hold exactly one type element');
      return true;
    } else {
      throw this.fault(`<${this.path[depth - 2]}> must not contain elements`);
    }
    return false;
  }

  onClose(): void {
    if (this.mode === 'params' && this.path.length === 4) this.value.end();
    this.path.pop();
  }

  onText(text: Buffer): void {
    const depth = this.path.length;
    if (this.mode === 'params' && (depth === 5 || (depth === 4 && this.typed === 0))) {
      this.value.write(text);
      return;
    }
    if (this.mode === 'fault') return;
    // Anywhere else only layout whitespace (noStrayText).
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) throw this.fault(`unexpected text inside <${this.path[depth - 1]}>`);
    }
  }
}
