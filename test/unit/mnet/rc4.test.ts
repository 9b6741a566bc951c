import { describe, expect, it } from 'vitest';
import { Rc4, rc4 } from '../../../src/mnet/rc4.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('rc4', () => {
  // RFC 6229 test vectors (keystream = encryption of zeros), cross-checked with OpenSSL's legacy rc4.
  it.each([
    { key: '0102030405', offset: 0, stream: 'b2 39 63 05 f0 3d c0 27 cc c3 52 4a 0a 11 18 a8' },
    { key: '0102030405', offset: 16, stream: '69 82 94 4f 18 fc 82 d5 89 c4 03 a4 7a 0d 09 19' },
    { key: '0102030405060708090a0b0c0d0e0f10', offset: 0, stream: '9a c7 cc 9a 60 9d 1e f7 b2 93 28 99 cd e4 1b 97' },
    { key: '0102030405060708090a0b0c0d0e0f10', offset: 4096, stream: 'a3 6a 4c 30 1a e8 ac 13 61 0c cb c1 22 56 ca cc' },
  ])('keystream of key $key at offset $offset', ({ key, offset, stream }) => {
    const expected = hex(stream);
    const out = rc4(hex(key), Buffer.alloc(offset + expected.length));
    expect(out.subarray(offset).toString('hex')).toBe(expected.toString('hex'));
  });

  it.each([
    ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
    ['Wiki', 'pedia', '1021bf0420'],
    ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5'],
  ])('encrypts %s / %s', (key, plain, cipher) => {
    expect(rc4(Buffer.from(key), Buffer.from(plain)).toString('hex')).toBe(cipher);
    expect(rc4(Buffer.from(key), hex(cipher)).toString()).toBe(plain);
  });

  it('is its own inverse, keeps the length and decrypts a prefix consistently', () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    const enc = rc4(key, data);
    expect(enc.length).toBe(data.length);
    expect(enc.equals(data)).toBe(false);
    expect(rc4(key, enc).equals(data)).toBe(true);
    expect(rc4(key, enc.subarray(0, 100)).equals(data.subarray(0, 100))).toBe(true);
    expect(rc4(key, Buffer.alloc(0)).length).toBe(0);
  });

  it('does not modify its inputs', () => {
    const key = Buffer.from('0102030405', 'hex');
    const data = Buffer.from('hello');
    rc4(key, data);
    expect(key.toString('hex')).toBe('0102030405');
    expect(data.toString()).toBe('hello');
  });

  it('refuses keys RC4 does not define', () => {
    expect(() => rc4(Buffer.alloc(0), Buffer.from('x'))).toThrow(RangeError);
    expect(() => rc4(Buffer.alloc(257, 1), Buffer.from('x'))).toThrow(RangeError);
  });

  describe('Rc4 (streaming)', () => {
    it.each([
      { key: '0102030405', offset: 0, stream: 'b2 39 63 05 f0 3d c0 27 cc c3 52 4a 0a 11 18 a8' },
      { key: '0102030405060708090a0b0c0d0e0f10', offset: 4096, stream: 'a3 6a 4c 30 1a e8 ac 13 61 0c cb c1 22 56 ca cc' },
    ])('continues the keystream of key $key across pieces, up to offset $offset', ({ key, offset, stream }) => {
      const expected = hex(stream);
      const cipher = new Rc4(hex(key));
      const zeros = Buffer.alloc(offset + expected.length);
      // Pieces of 1, 2, 3, … bytes.
      const pieces: Buffer[] = [];
      for (let at = 0, size = 1; at < zeros.length; at += size, size++) pieces.push(cipher.update(zeros.subarray(at, at + size)));
      expect(Buffer.concat(pieces).subarray(offset).toString('hex')).toBe(expected.toString('hex'));
    });

    it('gives the one-shot result in any pieces, in place or into a given buffer', () => {
      const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
      const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff));
      const whole = rc4(key, data);
      for (const size of [1, 7, 4096, 65536]) {
        const cipher = new Rc4(key);
        const inPlace = Buffer.from(data);
        for (let at = 0; at < data.length; at += size) cipher.update(inPlace.subarray(at, at + size), inPlace.subarray(at, at + size));
        expect(inPlace.equals(whole)).toBe(true);
      }
      const out = Buffer.alloc(data.length + 10, 0xee);
      const result = new Rc4(key).update(data, out);
      expect(result.length).toBe(data.length);
      expect(result.equals(whole)).toBe(true);
      expect(out[data.length]).toBe(0xee);
      expect(() => new Rc4(key).update(data, Buffer.alloc(10))).toThrow(RangeError);
    });

    it('refuses keys RC4 does not define', () => {
      expect(() => new Rc4(Buffer.alloc(0))).toThrow(RangeError);
      expect(() => new Rc4(Buffer.alloc(257, 1))).toThrow(RangeError);
    });
  });
});
