import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rawPrivateDecrypt } from '../../../src/mnet/rsa-workers.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/mnet');
const read = (rel: string) => fs.readFileSync(path.join(FIXTURES, rel));

const keys = [
  { privateKey: crypto.createPrivateKey(read('keys/mahara.key.pem')), publicKey: crypto.createPublicKey(read('keys/mahara.cert.pem')) },
  { privateKey: crypto.createPrivateKey(read('keys/moodle.key.pem')), publicKey: crypto.createPublicKey(read('keys/moodle.cert.pem')) },
];
const K = 256;

/** A k-byte block below the modulus (leading zero byte), raw-encrypted so the pool must give it back. */
function roundTrip(publicKey: crypto.KeyObject): { block: Buffer; ciphertext: Buffer } {
  const block = Buffer.concat([Buffer.alloc(1), crypto.randomBytes(K - 1)]);
  return { block, ciphertext: crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, block) };
}

describe('rawPrivateDecrypt (RSA worker pool)', () => {
  it('computes what crypto.privateDecrypt with RSA_NO_PADDING computes, for many jobs and keys at once', async () => {
    const jobs = Array.from({ length: 40 }, (_, i) => ({ key: keys[i % 2]!, ...roundTrip(keys[i % 2]!.publicKey) }));
    const results = await Promise.all(jobs.map((j) => rawPrivateDecrypt(j.key.privateKey, j.ciphertext)));
    results.forEach((result, i) => {
      const { key, block, ciphertext } = jobs[i]!;
      expect(result?.toString('hex')).toBe(block.toString('hex'));
      expect(result?.equals(crypto.privateDecrypt({ key: key.privateKey, padding: crypto.constants.RSA_NO_PADDING }, ciphertext))).toBe(true);
    });
  });

  it('gives a block decrypted with the wrong key, not an error (the caller rejects the padding)', async () => {
    // Only a ciphertext below the wrong key's modulus too is a number that key can decrypt (else null,
    // the next test): with random blocks that failed now and then, so draw until it is.
    const wrongModulus = Buffer.from(keys[1]!.publicKey.export({ format: 'jwk' }).n!, 'base64url');
    let { block, ciphertext } = roundTrip(keys[0]!.publicKey);
    while (Buffer.compare(ciphertext, wrongModulus) >= 0) ({ block, ciphertext } = roundTrip(keys[0]!.publicKey));
    const wrong = await rawPrivateDecrypt(keys[1]!.privateKey, ciphertext);
    expect(wrong?.length).toBe(K);
    expect(wrong?.equals(block)).toBe(false);
  });

  it('resolves null for an input that is not below the modulus', async () => {
    expect(await rawPrivateDecrypt(keys[0]!.privateKey, Buffer.alloc(K, 0xff))).toBeNull();
  });

  it('leaves the caller its input untouched, even a view into a shared buffer', async () => {
    const { block, ciphertext } = roundTrip(keys[0]!.publicKey);
    const shared = Buffer.concat([Buffer.from('prefix'), ciphertext, Buffer.from('suffix')]);
    const view = shared.subarray(6, 6 + K);
    expect((await rawPrivateDecrypt(keys[0]!.privateKey, view))?.equals(block)).toBe(true);
    expect(view.equals(ciphertext)).toBe(true);
    expect(shared.subarray(0, 6).toString()).toBe('prefix');
  });
});
