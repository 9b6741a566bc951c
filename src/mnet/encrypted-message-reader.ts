import { FaultCode, MnetFault } from '../errors.js';
import { Base64Decoder } from './base64-stream.js';
import { ENVELOPE_KEY_PROBE_BYTES, decodeBase64Lenient } from './envelope.js';
import { EnvelopeReader, TextCollector } from './envelope-stream-reader.js';
import type { FileResponseOptions } from './file-response.js';

/**
 * Pass 1 of a fetch_file response (file-response.ts), the `encryptedMessage` (§4.2): EncryptedData/
 * CipherData/CipherValue streamed (decoded) to the spool; EncryptedKey/CipherData/CipherValue and wwwroot
 * kept. A plain `methodResponse` (a fault produced before the peer could open our request, §2.3) is kept
 * whole for the codec. The streaming twin of readEncryptedMessage.
 */
export class EncryptedMessageReader extends EnvelopeReader {
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
    super(options.peerLabel);
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
