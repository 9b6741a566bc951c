import crypto from 'node:crypto';
import { FaultCode, MnetFault } from '../errors.js';
import { Base64Decoder } from './base64-stream.js';
import { EnvelopeReader, TextCollector } from './envelope-stream-reader.js';
import type { FileResponseOptions } from './file-response.js';
import { FilePayloadReader } from './file-payload-reader.js';

/**
 * Pass 2 of a fetch_file response (file-response.ts), the decrypted `signedMessage` (§3.1): `object`
 * streamed (decoded) into the payload, which is hashed for the signature and read by a FilePayloadReader;
 * SignatureValue, wwwroot and timestamp kept. The streaming twin of readSignedMessage.
 */
export class SignedMessageReader extends EnvelopeReader {
  readonly verifier = crypto.createVerify('sha1');
  private readonly object: Base64Decoder;
  private objectOpened = false;
  private readonly payload: FilePayloadReader;
  private readonly signature: TextCollector;
  private readonly wwwroot: TextCollector;
  private readonly timestamp: TextCollector;

  constructor(
    private readonly options: FileResponseOptions,
    onFileBytes: (bytes: Buffer) => void,
  ) {
    super(options.peerLabel);
    this.payload = new FilePayloadReader(this.fault, onFileBytes);
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
