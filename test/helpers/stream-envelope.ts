import crypto from 'node:crypto';
import fs from 'node:fs';
import { encodeResponse } from '../../src/mnet/codec.js';
import { buildEncryptedMessage, buildSignedMessage } from '../../src/mnet/envelope.js';
import { Rc4 } from '../../src/mnet/rc4.js';
import { rsaEncryptPkcs1 } from '../../src/mnet/rsa.js';

/**
 * Test and bench only: a signed+encrypted methodResponse whose result is base64 of a file, produced as a
 * stream without ever holding the file (what Moodle's fetch_file answers, §7.4, minus Moodle's memory
 * use). Two passes over the file: the first hashes and signs the XML-RPC payload, the second emits it,
 * base64-encoded into the signed envelope, RC4-encrypted and base64-encoded into the outer one.
 *
 * The envelope text around the streamed parts comes from the production builders (envelope.ts, codec.ts)
 * run on a placeholder, so the layout is theirs byte for byte (`<signedMessage>` at byte 48 and so on).
 */

/** Base64 of a byte stream in pieces: keeps the 0–2 bytes that do not fill a 3-byte group. */
export class Base64Encoder {
  private rest = Buffer.alloc(0);

  write(bytes: Buffer): Buffer {
    const all = this.rest.length > 0 ? Buffer.concat([this.rest, bytes]) : bytes;
    const whole = all.length - (all.length % 3);
    this.rest = Buffer.from(all.subarray(whole));
    return Buffer.from(all.subarray(0, whole).toString('base64'), 'latin1');
  }

  end(): Buffer {
    const out = Buffer.from(this.rest.toString('base64'), 'latin1');
    this.rest = Buffer.alloc(0);
    return out;
  }
}

/** `doc` split around the one occurrence of `marker`. */
function splitAround(doc: Buffer, marker: string): [Buffer, Buffer] {
  const at = doc.indexOf(marker, 0, 'latin1');
  if (at < 0 || doc.indexOf(marker, at + 1, 'latin1') >= 0) throw new Error(`stream-envelope: marker ${marker} not found exactly once`);
  return [doc.subarray(0, at), doc.subarray(at + Buffer.byteLength(marker, 'latin1'))];
}

async function* base64Of(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const encoder = new Base64Encoder();
  for await (const piece of source) {
    const out = encoder.write(piece);
    if (out.length > 0) yield out;
  }
  yield encoder.end();
}

/** The XML-RPC payload: encodeResponse of a string, with base64 of the file as the string. */
async function* payloadOf(filePath: string): AsyncGenerator<Buffer> {
  const [head, tail] = splitAround(encodeResponse(''), '<string></string>');
  yield Buffer.concat([head, Buffer.from('<string>')]);
  yield* base64Of(fs.createReadStream(filePath, { highWaterMark: 1 << 20 }));
  yield Buffer.concat([Buffer.from('</string>'), tail]);
}

export interface FileResponseOptions {
  filePath: string;
  /** The responder's key, and what the signed envelope says about it. */
  signingKey: crypto.KeyObject;
  wwwroot: string;
  timestamp: number;
  publicKeyUrl: string;
  /** The caller's certificate key: the RC4 key is encrypted to it. */
  recipientKey: crypto.KeyObject;
  /** Flip a bit of the signature (the response then fails verification, at its very end). */
  corruptSignature?: boolean;
}

/** The whole HTTP body, in pieces of a few MB at most. */
export async function* streamFileResponse(o: FileResponseOptions): AsyncGenerator<Buffer> {
  // Pass 1: signature and digest over the exact payload bytes.
  const signer = crypto.createSign('sha1');
  const digest = crypto.createHash('sha1');
  for await (const piece of payloadOf(o.filePath)) {
    signer.update(piece);
    digest.update(piece);
  }
  const signature = signer.sign({ key: o.signingKey, padding: crypto.constants.RSA_PKCS1_PADDING });
  if (o.corruptSignature) {
    const at = signature.length >> 1;
    signature[at] = signature[at]! ^ 0x01;
  }

  // The signed envelope around a placeholder payload, with the real digest put in.
  const placeholder = crypto.randomBytes(24);
  const signedDoc = buildSignedMessage({ payload: placeholder, signature, wwwroot: o.wwwroot, timestamp: o.timestamp, publicKeyUrl: o.publicKeyUrl })
    .toString('latin1')
    .replace(crypto.createHash('sha1').update(placeholder).digest('hex'), digest.digest('hex'));
  const [signedHead, signedTail] = splitAround(Buffer.from(signedDoc, 'latin1'), placeholder.toString('base64'));

  // The encrypted envelope around empty data, with our own RC4 key in EncryptedKey.
  const rc4Key = crypto.randomBytes(16);
  const outerDoc = buildEncryptedMessage({ plaintext: Buffer.alloc(0), wwwroot: o.wwwroot, recipientKey: o.recipientKey }).toString('latin1');
  const [outerHead, outerRest] = splitAround(Buffer.from(outerDoc, 'latin1'), '<CipherValue></CipherValue>');
  const keyValue = /<CipherValue>[A-Za-z0-9+/=]*<\/CipherValue>/;
  const outerTail = Buffer.from(
    outerRest.toString('latin1').replace(keyValue, `<CipherValue>${rsaEncryptPkcs1(o.recipientKey, rc4Key).toString('base64')}</CipherValue>`),
    'latin1',
  );

  // Pass 2: emit.
  async function* signedMessage(): AsyncGenerator<Buffer> {
    yield signedHead;
    yield* base64Of(payloadOf(o.filePath));
    yield signedTail;
  }
  async function* encrypted(): AsyncGenerator<Buffer> {
    const rc4 = new Rc4(rc4Key);
    // In place: every piece is a fresh buffer of ours (fresh output buffers cost page faults, ~30%).
    for await (const piece of signedMessage()) yield rc4.update(piece, piece);
  }
  yield Buffer.concat([outerHead, Buffer.from('<CipherValue>')]);
  yield* base64Of(encrypted());
  yield Buffer.concat([Buffer.from('</CipherValue>'), outerTail]);
}
