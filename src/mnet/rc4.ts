/**
 * Plain RC4 (ARCFOUR), keystream from byte 0 with no "drop" and no IV.
 *
 * Why it is here at all: MNet's encrypted envelope is PHP `openssl_seal(..., 'RC4')` (mnet-protocol.md
 * §4.1), and every peer (Moodle, Mahara) only speaks that. Node's OpenSSL 3 does not offer `rc4` without
 * the legacy provider, so we implement the ~20 lines ourselves (§11). RC4 is a stream cipher: the same
 * function encrypts and decrypts, ciphertext length equals plaintext length, and decrypting only a prefix
 * (`rc4(key, data.subarray(0, n))`) yields exactly the first n bytes of the full decryption — which is what
 * the envelope code uses to test a candidate key cheaply.
 */
export function rc4(key: Buffer, data: Buffer): Buffer {
  // openssl_seal always uses a 16-byte key; RC4 itself is defined for 1..256 key bytes.
  if (key.length < 1 || key.length > 256) throw new RangeError(`RC4 key must be 1..256 bytes, got ${key.length}`);

  // Key-scheduling algorithm (KSA).
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    const si = s[i]!;
    j = (j + si + key[i % key.length]!) & 0xff;
    s[i] = s[j]!;
    s[j] = si;
  }

  // Pseudo-random generation (PRGA), XORed into the data.
  const out = Buffer.allocUnsafe(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    const si = s[i]!;
    j = (j + si) & 0xff;
    const sj = s[j]!;
    s[i] = sj;
    s[j] = si;
    out[n] = data[n]! ^ s[(si + sj) & 0xff]!;
  }
  return out;
}
