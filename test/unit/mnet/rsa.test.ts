import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deriveRejectionSecret, rsaDecryptPkcs1Implicit, rsaEncryptPkcs1 } from '../../../src/mnet/rsa.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/mnet');
const read = (rel: string) => fs.readFileSync(path.join(FIXTURES, rel));

const maharaKey = crypto.createPrivateKey(read('keys/mahara.key.pem'));
const maharaPub = crypto.createPublicKey(read('keys/mahara.cert.pem'));
const moodleKey = crypto.createPrivateKey(read('keys/moodle.key.pem'));
const secret = deriveRejectionSecret(maharaKey);
const K = 256;

const synthetic = (ciphertext: Buffer, s = secret) =>
  crypto.createHmac('sha256', s).update(ciphertext).digest().subarray(0, 16);

/** Encrypts a hand-made k-byte block with raw RSA, so any (in)valid padding can be produced. */
const rawEncrypt = (em: Buffer) => crypto.publicEncrypt({ key: maharaPub, padding: crypto.constants.RSA_NO_PADDING }, em);

/** 0x00 0x02 + `padLength` nonzero bytes + 0x00 + message, then overrides. */
function block(message: Buffer, overrides: Record<number, number> = {}): Buffer {
  const padLength = K - 3 - message.length;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => 1 + ((i * 37) % 255)));
  const em = Buffer.concat([Buffer.from([0, 2]), padding, Buffer.from([0]), message]);
  for (const [index, value] of Object.entries(overrides)) em[Number(index)] = value;
  return em;
}

/** Straightforward (branching) PKCS#1 v1.5 type-2 check for a 16-byte key, the reference for the constant-time one. */
function referenceUnpad(em: Buffer): Buffer | null {
  if (em[0] !== 0 || em[1] !== 2) return null;
  const sep = em.indexOf(0, 2);
  if (sep < 10) return null;
  const message = em.subarray(sep + 1);
  return message.length === 16 ? message : null;
}

describe('rsaEncryptPkcs1 / rsaDecryptPkcs1Implicit', () => {
  it('round-trips a 16-byte key (what openssl_seal wraps)', async () => {
    const message = crypto.randomBytes(16);
    const ciphertext = rsaEncryptPkcs1(maharaPub, message);
    expect(ciphertext.length).toBe(K);
    expect((await rsaDecryptPkcs1Implicit(maharaKey, ciphertext, secret)).equals(message)).toBe(true);
  });

  // Any other length is refused like a bad padding, so the result's length never tells the two apart
  // (it would show in the caller's timing).
  it.each([0, 1, 15, 17, 100, K - 11])('answers the 16-byte synthetic value for a well-padded %i-byte message', async (n) => {
    const ciphertext = rsaEncryptPkcs1(maharaPub, crypto.randomBytes(n));
    expect((await rsaDecryptPkcs1Implicit(maharaKey, ciphertext, secret)).equals(synthetic(ciphertext))).toBe(true);
  });

  it('decrypts what crypto.publicEncrypt with PKCS#1 v1.5 produced', async () => {
    const key16 = crypto.randomBytes(16);
    const ciphertext = crypto.publicEncrypt({ key: maharaPub, padding: crypto.constants.RSA_PKCS1_PADDING }, key16);
    expect((await rsaDecryptPkcs1Implicit(maharaKey, ciphertext, secret)).equals(key16)).toBe(true);
  });

  it('really pads (the ciphertext is randomised)', () => {
    const message = Buffer.alloc(16, 7);
    expect(rsaEncryptPkcs1(maharaPub, message).equals(rsaEncryptPkcs1(maharaPub, message))).toBe(false);
  });

  it.each([
    { name: 'a key starting with zero bytes', em: block(Buffer.from([0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])), expected: Buffer.from([0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]) },
    { name: 'all-0xff key bytes', em: block(Buffer.alloc(16, 0xff)), expected: Buffer.alloc(16, 0xff) },
  ])('accepts a valid block with $name', async ({ em, expected }) => {
    const ref = referenceUnpad(em);
    expect(ref?.equals(expected)).toBe(true);
    expect((await rsaDecryptPkcs1Implicit(maharaKey, rawEncrypt(em), secret)).toString('hex')).toBe(expected.toString('hex'));
  });

  it.each([
    { name: 'first byte not 0x00', em: block(Buffer.alloc(16, 1), { 0: 1 }) },
    { name: 'block type 1', em: block(Buffer.alloc(16, 1), { 1: 1 }) },
    { name: 'block type 0', em: block(Buffer.alloc(16, 1), { 1: 0 }) },
    { name: 'only 7 padding bytes', em: block(Buffer.alloc(K - 10, 0x41)) },
    { name: 'exactly 8 padding bytes around a long message', em: block(Buffer.alloc(K - 11, 0x41)) },
    { name: 'an empty message', em: block(Buffer.alloc(0)) },
    { name: 'a zero at index 9', em: block(Buffer.alloc(16, 1), { 9: 0 }) },
    { name: 'a zero right after the header', em: block(Buffer.alloc(16, 1), { 2: 0 }) },
    { name: 'no separator', em: Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(K - 2, 0x55)]) },
    { name: 'all zeros', em: Buffer.alloc(K) },
  ])('rejects implicitly: $name', async ({ em }) => {
    expect(referenceUnpad(em)).toBeNull();
    const ciphertext = rawEncrypt(em);
    const out = await rsaDecryptPkcs1Implicit(maharaKey, ciphertext, secret);
    expect(out.length).toBe(16);
    expect(out.equals(synthetic(ciphertext))).toBe(true);
  });

  it('agrees with a straightforward unpadding on random blocks', async () => {
    for (let n = 0; n < 300; n++) {
      const em = crypto.randomBytes(K);
      em[0] = n % 50 === 0 ? 1 : 0;
      em[1] = n % 40 === 0 ? 3 : 2;
      // Sprinkle zeros so the separator lands everywhere, including inside the first 8 padding bytes.
      for (let z = 0; z < 3; z++) if (crypto.randomInt(3) === 0) em[2 + crypto.randomInt(K - 2)] = 0;
      const ciphertext = rawEncrypt(em);
      const expected = referenceUnpad(em) ?? synthetic(ciphertext);
      expect((await rsaDecryptPkcs1Implicit(maharaKey, ciphertext, secret)).toString('hex')).toBe(expected.toString('hex'));
    }
  });

  it('turns a tampered ciphertext into a deterministic 16-byte synthetic value', async () => {
    const key16 = crypto.randomBytes(16);
    const ciphertext = rsaEncryptPkcs1(maharaPub, key16);
    const tampered = Buffer.from(ciphertext);
    tampered[100]! ^= 0x01;
    const a = await rsaDecryptPkcs1Implicit(maharaKey, tampered, secret);
    const b = await rsaDecryptPkcs1Implicit(maharaKey, Buffer.from(tampered), secret);
    expect(a.length).toBe(16);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(key16)).toBe(false);
    expect(a.equals(synthetic(tampered))).toBe(true);
    // Another secret, or another tampering, gives another value.
    expect((await rsaDecryptPkcs1Implicit(maharaKey, tampered, Buffer.alloc(32, 1))).equals(a)).toBe(false);
    tampered[101]! ^= 0x01;
    expect((await rsaDecryptPkcs1Implicit(maharaKey, tampered, secret)).equals(a)).toBe(false);
  });

  it('gives the synthetic value for the wrong private key (deterministic: a Moodle vector key block)', async () => {
    const doc = read('vectors/03-send_content_intent/request.encrypted.xml').toString('latin1');
    const values = [...doc.matchAll(/<CipherValue>([^<]*)<\/CipherValue>/g)].map((m) => Buffer.from(m[1]!, 'base64'));
    const keyBlock = values[1]!; // encrypted to mahara.cert.pem
    const right = await rsaDecryptPkcs1Implicit(maharaKey, keyBlock, secret);
    expect(right.length).toBe(16);
    const moodleSecret = deriveRejectionSecret(moodleKey);
    const wrong = await rsaDecryptPkcs1Implicit(moodleKey, keyBlock, moodleSecret);
    expect(wrong.length).toBe(16);
    expect(wrong.equals(right)).toBe(false);
    expect(wrong.equals(synthetic(keyBlock, moodleSecret))).toBe(true);
  });

  it('never throws on a ciphertext of the wrong length or not below the modulus', async () => {
    const cases = [Buffer.alloc(0), Buffer.alloc(1, 5), Buffer.alloc(K + 1, 1), Buffer.alloc(2 * K, 0x42), Buffer.alloc(K, 0xff)];
    for (const c of cases) {
      const out = await rsaDecryptPkcs1Implicit(maharaKey, c, secret);
      expect(out.equals(synthetic(c))).toBe(true);
    }
  });

  it('reads a ciphertext with its leading zero byte stripped as the same number', async () => {
    const message = Buffer.from('0123456789abcdef');
    let ciphertext = rsaEncryptPkcs1(maharaPub, message);
    for (let tries = 0; ciphertext[0] !== 0 && tries < 20_000; tries++) ciphertext = rsaEncryptPkcs1(maharaPub, message);
    expect(ciphertext[0]).toBe(0);
    expect((await rsaDecryptPkcs1Implicit(maharaKey, ciphertext.subarray(1), secret)).equals(message)).toBe(true);
  });

  it('refuses a key that is not an RSA private key (configuration error, not a padding failure)', async () => {
    await expect(rsaDecryptPkcs1Implicit(maharaPub, Buffer.alloc(K), secret)).rejects.toThrow(TypeError);
  });
});

describe('deriveRejectionSecret', () => {
  it('is a 32-byte value, stable per key and different between keys', () => {
    expect(secret.length).toBe(32);
    expect(deriveRejectionSecret(crypto.createPrivateKey(read('keys/mahara.key.pem'))).equals(secret)).toBe(true);
    expect(deriveRejectionSecret(moodleKey).equals(secret)).toBe(false);
  });
});
