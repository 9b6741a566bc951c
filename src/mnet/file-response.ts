import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import { FaultCode, MnetFault } from '../errors.js';
import { BatchedFile, localFault, PIECE } from './batched-file.js';
import { EncryptedMessageReader } from './encrypted-message-reader.js';
import { decodeBase64Lenient, findEnvelopeKey, parseEnvelopeTimestamp, type DecryptionKey } from './envelope.js';
import { malformedResponse } from './envelope-stream-reader.js';
import { SignedMessageReader } from './signed-message-reader.js';
import { decryptSpool } from './spool-decrypt.js';

/**
 * Reading a response whose result is a file (fetch_file, §7.4) without holding it: the streaming twin of
 * what MnetClient.callOnce does with parseXml, readEncryptedMessage, decryptEnvelope, readSignedMessage
 * and decodeMethodResponse. Memory stays at a few MB whatever the size (§11, portfolio-import §2.4).
 *
 * The wire order forces two passes (§4.2): the outer `CipherValue` with the data comes *before* the one
 * with its RC4 key. Pass 1 (the HTTP body, encrypted-message-reader.ts) base64-decodes the data into a
 * spool file next to the target and keeps the small parts. Pass 2 finds the key (our current or older
 * keys, as decryptEnvelope does), reads the spool through RC4 and a second tokenizer for the
 * signedMessage (signed-message-reader.ts), whose `object` is base64-decoded into the XML-RPC payload;
 * the payload is hashed for the RSA-SHA1 signature as it goes and read by a third tokenizer
 * (file-payload-reader.ts), whose `<string>` (or `<base64>`, or bare `<value>`) text is decoded into the
 * file. The reading and RC4 of pass 2 run on a worker thread (spool-decrypt.ts); the spool is written in
 * batches (batched-file.ts). This receiver runs the two passes. The signature is known to be good only at
 * the end: until the caller calls keep(), dispose() removes the target as well as the spool.
 *
 * Pass 2 writes the file over the start of the spool it is reading, then cuts the spool to the file's
 * size and renames it to the target. That is safe because the file never catches up with the reading:
 * every byte of it was decoded from at least 16/9 bytes of spool already read (RC4 keeps the size, each
 * base64 layer shrinks it by a quarter). It is done because writing into pages the page cache already
 * holds is far cheaper than filling new ones: on the development VM a fresh page costs about ten times a
 * reused one (the hypervisor takes freed memory back), and a separate 1 GB target was about a tenth of the
 * CPU of a 1 GB import.
 *
 * Speed (bench/fetch-file.ts, 2 vCPUs): for a 200 MB zip about 340 MB/s of body in pass 1 and 130–170
 * MB/s of file in pass 2, where RC4 (about 350 MB/s of ciphertext, 1.78 bytes per file byte) is the limit;
 * for 1 GB about 260 and 110–120, with the kernel's page-cache writeback competing for the CPUs.
 *
 * Every refusal of the peer's bytes is BadResponse (a broken answer, as for callOnce); more decoded bytes
 * than `maxBytes` is BodyTooLarge; a local file problem is Internal.
 */

export interface FileResponseOptions {
  /**
   * Where the decoded file goes, by renaming the spool `${path}.spool` (created or truncated, mode 0600)
   * at the end of pass 2: an existing file at `path` is replaced only then.
   */
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

export class FileResponseReceiver {
  private readonly spoolPath: string;
  private spool: BatchedFile | undefined;
  /** Whether the spool became the target (renamed to options.path). */
  private renamed = false;
  private kept = false;
  private outer: EncryptedMessageReader | undefined;

  private constructor(private readonly options: FileResponseOptions) {
    this.spoolPath = `${options.path}.spool`;
  }

  /** Creates the target and the spool file. */
  static async create(options: FileResponseOptions): Promise<FileResponseReceiver> {
    const receiver = new FileResponseReceiver(options);
    try {
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
    const outer = (this.outer = new EncryptedMessageReader(this.options, (bytes) => spool.push(bytes)));
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
    const bad = malformedResponse(options.peerLabel);
    const found = await findEnvelopeKey(outer.encryptedKey(), outer.probe, keys);
    if (!found) throw new MnetFault(FaultCode.BadResponse, `${options.peerLabel}: response could not be decrypted with our keys`);

    // The file goes over the spool's own start (see the top of this file).
    const target = this.spool!;
    await target.rewind();
    const sha1 = crypto.createHash('sha1');
    let bytes = 0;
    const signed = new SignedMessageReader(options, (decoded) => {
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
    if (!message.fault) {
      await target.truncate(bytes);
      await target.close();
      try {
        await fs.rename(this.spoolPath, options.path);
      } catch (err) {
        throw localFault('moving the received file into place', err);
      }
      this.renamed = true;
    }

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
   * Closes the spool and removes it, or the target it became unless keep() was called (a file at the
   * target's path that this receiver did not put there is left alone). Never throws.
   */
  async dispose(): Promise<void> {
    await this.spool?.close();
    if (this.spool && !this.renamed) await fs.rm(this.spoolPath, { force: true }).catch(() => undefined);
    if (this.renamed && !this.kept) await fs.rm(this.options.path, { force: true }).catch(() => undefined);
  }
}

