import crypto from 'node:crypto';
import { rawPrivateDecrypt } from './rsa-workers.js';

/**
 * RSAES-PKCS1-v1_5 for MNet's key transport (mnet-protocol.md §4.1): the 16-byte RC4 key of every envelope
 * is wrapped this way, so every incoming request costs one private decryption.
 *
 * Node 20 refuses RSA_PKCS1_PADDING in privateDecrypt (Marvin, CVE-2023-46809), and node-forge is ~40×
 * slower (§11). So we let OpenSSL do the raw RSA (RSA_NO_PADDING) and strip the padding ourselves, in
 * constant time and with *implicit rejection*: a bad padding never throws and never returns early, it
 * yields a pseudo-random key that then fails later exactly like the right padding under a wrong key would
 * (fault 7023, §4.3 step 3). JavaScript gives no hard timing guarantees, but the code below has no branch
 * and no memory access that depends on the decrypted bytes.
 */

/** Encrypts `data` (the RC4 key) to a peer's public key with PKCS#1 v1.5 type-2 padding (§11). */
export function rsaEncryptPkcs1(publicKey: crypto.KeyObject, data: Buffer): Buffer {
  return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, data);
}

/** Label separating the rejection secret from any other use of the key bytes. */
const REJECTION_LABEL = Buffer.from('mnet rsa pkcs1 implicit rejection v1\0', 'latin1');

/**
 * The per-key secret that keys the synthetic value of implicit rejection (§11: "derived from the private
 * key"). It must be unknown to an attacker, hence derived from the private key; callers compute it once
 * per key, because exporting and hashing the key on every request would be wasted work.
 */
export function deriveRejectionSecret(privateKey: crypto.KeyObject): Buffer {
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  return crypto.createHash('sha256').update(REJECTION_LABEL).update(der).digest();
}

/** Length of the synthetic value: the length of a real MNet RC4 key, so both look alike downstream. */
const SYNTHETIC_LENGTH = 16;

// Branch-free helpers on small non-negative integers (< 2^30). A "mask" is 0 (false) or -1 (all ones).
/** -1 if x === 0 else 0. */
const zeroMask = (x: number): number => ~((x | -x) >> 31);
/** -1 if a === b else 0. */
const eqMask = (a: number, b: number): number => zeroMask(a ^ b);
/** -1 if a < b else 0. */
const ltMask = (a: number, b: number): number => (a - b) >> 31;
/** a where mask is -1, b where it is 0. */
const select = (mask: number, a: number, b: number): number => (a & mask) | (b & ~mask);

/**
 * Decrypts a PKCS#1 v1.5 type-2 block holding a 16-byte key, with implicit rejection.
 *
 * Returns the key when the padding is valid (0x00 0x02, at least 8 nonzero bytes, 0x00, 16-byte key);
 * otherwise the first 16 bytes of HMAC-SHA-256(rejectionSecret, ciphertext), deterministic for the same
 * ciphertext and key. A ciphertext longer than the modulus, or numerically not below it, also gives the
 * synthetic value (never a different error); a shorter one is left-padded with zeros, as OpenSSL reads it
 * as a big-endian integer anyway.
 *
 * The raw RSA runs on a worker thread (rsa-workers.ts), so the main thread goes on with other requests
 * meanwhile; the unpadding runs here, on the main thread, after it. Rejects only if the worker failed.
 */
export async function rsaDecryptPkcs1Implicit(
  privateKey: crypto.KeyObject,
  ciphertext: Buffer,
  rejectionSecret: Buffer,
): Promise<Buffer> {
  const bits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa' || !bits) {
    throw new TypeError('rsaDecryptPkcs1Implicit needs an RSA private key');
  }
  const k = (bits + 7) >> 3;

  // Raw RSA. Every failure becomes an all-zero block, which the unpadding below rejects like any other
  // bad padding; the length of the ciphertext is public, so checking it is not a leak.
  let em: Buffer | null = null;
  if (ciphertext.length <= k) {
    const input = ciphertext.length === k ? ciphertext : Buffer.concat([Buffer.alloc(k - ciphertext.length), ciphertext]);
    em = await rawPrivateDecrypt(privateKey, input);
  }
  return unpadPkcs1Implicit(em, k, ciphertext, rejectionSecret);
}

/**
 * The constant-time half of rsaDecryptPkcs1Implicit: `raw` is the raw RSA result (k bytes), or null when
 * OpenSSL refused the ciphertext.
 */
function unpadPkcs1Implicit(raw: Buffer | null, k: number, ciphertext: Buffer, rejectionSecret: Buffer): Buffer {
  // The synthetic value is computed on every call, so good and bad paddings do the same work.
  const synthetic = crypto.createHmac('sha256', rejectionSecret).update(ciphertext).digest();

  let em = raw ?? Buffer.alloc(k);
  let ok = raw ? -1 : 0;
  if (em.length !== k) {
    // Not reachable with OpenSSL (it returns exactly k bytes), kept so the loops below stay in bounds.
    em = Buffer.alloc(k);
    ok = 0;
  }

  // Padding check over all k bytes: find the first zero after the 0x00 0x02 header without branching.
  let good = ok & zeroMask(em[0]!) & eqMask(em[1]!, 2);
  let found = 0;
  let zeroIndex = 0;
  for (let i = 2; i < k; i++) {
    const isZero = zeroMask(em[i]!);
    zeroIndex = select(~found & isZero, i, zeroIndex);
    found |= isZero;
  }
  good &= found;
  // At least 8 padding bytes: em[2..9] nonzero, so the separator sits at index 10 or later.
  good &= ~ltMask(zeroIndex, 10);
  // MNet only ever wraps 16-byte RC4 keys (PHP's openssl_seal with RC4-128, checklist 8). Anything else
  // counts as bad padding, so the result always has the same length whatever the padding was: a
  // length that told good from bad would leak through the caller's timing.
  good &= eqMask(k - (zeroIndex + 1), SYNTHETIC_LENGTH);

  // Move the message to the front with a barrel shifter (log2(k) passes over the whole block, the shift
  // amount only ever steers masks), as OpenSSL's rsa_padding_check_PKCS1_type_2 does.
  const msgIndex = zeroIndex + 1;
  const msgLength = k - msgIndex;
  const work = Uint8Array.from(em);
  for (let shift = 1; shift < k; shift <<= 1) {
    const mask = ~zeroMask(msgIndex & shift);
    for (let i = 0; i + shift < k; i++) work[i] = select(mask, work[i + shift]!, work[i]!);
  }

  // Choose message or synthetic value byte by byte over the whole block, then cut to the chosen length.
  const out = Buffer.alloc(k);
  for (let i = 0; i < k; i++) {
    const fake = select(ltMask(i, SYNTHETIC_LENGTH), synthetic[i & 31]!, 0);
    out[i] = select(good, work[i]!, fake);
  }
  const length = select(good, msgLength, SYNTHETIC_LENGTH);
  return Buffer.from(out.subarray(0, length));
}
