import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { Base64Decoder } from '../../../src/mnet/base64-stream.js';
import { decodeBase64Lenient } from '../../../src/mnet/envelope.js';
import { faultCodeOf } from '../../helpers/faults.js';

/** Base64Decoder fed `text` in pieces of `size` characters (0: one piece). */
function decode(text: string | Buffer, size = 0): Buffer {
  const out: Buffer[] = [];
  const decoder = new Base64Decoder(
    (bytes) => out.push(Buffer.from(bytes)),
    (reason) => new MnetFault(FaultCode.BadResponse, reason),
  );
  const input = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const step = size || input.length || 1;
  for (let i = 0; i < input.length; i += step) decoder.write(input.subarray(i, i + step));
  decoder.end();
  return Buffer.concat(out);
}

describe('Base64Decoder', () => {
  it.each([
    ['aGVsbG8=', 'hello'],
    ['aGVsbG8', 'hello'],
    [' aGVs\r\nbG8 =\n', 'hello'],
    ['aGVsbA==', 'hell'],
    ['aGVsbA', 'hell'],
    ['aGVs', 'hel'],
    ['', ''],
    ['  \n', ''],
    ['=', ''],
    ['aGVs=', 'hel'],
  ])('decodes %j like decodeBase64Lenient', (text, plain) => {
    expect(decode(text).toString('latin1')).toBe(plain);
    expect(decodeBase64Lenient(text, FaultCode.BadResponse, 'x').toString('latin1')).toBe(plain);
    for (const size of [1, 2, 3, 5]) expect(decode(text, size).toString('latin1')).toBe(plain);
  });

  it.each([
    ['a lone last character', 'aGVsbG8xa'],
    ['data after padding', 'aGVsbA==aGVs'],
    ['three padding characters', 'aGVsbA==='],
    ['a character outside the alphabet', 'aGVs!G8='],
    ['base64url characters', 'aGV-bG8_'],
    ['non-ASCII', 'aGVs\u00e9G8='],
    ['a NUL', 'aGVs\0bG8='],
  ])('refuses %s, as decodeBase64Lenient does', (_case, text) => {
    expect(faultCodeOf(() => decodeBase64Lenient(text, FaultCode.BadResponse, 'x'))).toBe(FaultCode.BadResponse);
    expect(faultCodeOf(() => decode(text))).toBe(FaultCode.BadResponse);
    expect(faultCodeOf(() => decode(text, 1))).toBe(FaultCode.BadResponse);
  });

  it('decodes large input in any pieces, plain, wrapped or padded', () => {
    for (const length of [0, 1, 2, 3, 1000, 65536 * 3 + 2, 300_001]) {
      const data = crypto.randomBytes(length);
      const plain = data.toString('base64');
      const wrapped = plain.replace(/.{76}/g, '$&\r\n');
      const unpadded = plain.replace(/=+$/, '');
      for (const text of [plain, wrapped, unpadded]) {
        for (const size of [0, 4, 7, 1000, 65537]) {
          expect(decode(text, size).equals(data)).toBe(true);
        }
      }
    }
  });

  it('finds a bad character anywhere in a long pure-alphabet run (the native fast path)', () => {
    const text = Buffer.from(crypto.randomBytes(200_000).toString('base64'), 'latin1');
    for (const [at, bad] of [[0, '-'], [77_777, '_'], [150_000, '.'], [120_000, '\u00e9'], [text.length - 5, '=']] as const) {
      const broken = Buffer.from(text);
      broken[at] = bad.charCodeAt(0);
      expect(faultCodeOf(() => decode(broken))).toBe(FaultCode.BadResponse);
      expect(faultCodeOf(() => decode(broken, 65536))).toBe(FaultCode.BadResponse);
    }
  });

  it('takes whitespace inside a long pure-alphabet run off the fast path without losing a byte', () => {
    const data = crypto.randomBytes(200_000);
    const text = data.toString('base64');
    const spaced = `${text.slice(0, 100_001)} \n${text.slice(100_001)}`;
    expect(decode(spaced, 65536).equals(data)).toBe(true);
  });

  it('hands over each piece during the call, in a buffer it reuses for the next', () => {
    const copies: Buffer[] = [];
    const views: Buffer[] = [];
    const decoder = new Base64Decoder(
      (b) => {
        copies.push(Buffer.from(b));
        views.push(b);
      },
      (r) => new MnetFault(FaultCode.BadResponse, r),
    );
    const a = crypto.randomBytes(3000);
    const b = crypto.randomBytes(3000);
    // Wrapped, so the table loop (not only the native decoder) produces the output.
    decoder.write(Buffer.from(a.toString('base64').replace(/.{76}/g, '$&\n')));
    decoder.write(Buffer.from(b.toString('base64').replace(/.{76}/g, '$&\n')));
    decoder.end();
    expect(Buffer.concat(copies).equals(Buffer.concat([a, b]))).toBe(true);
    // Consumers must copy what they keep (BatchedFile.push does): the first view now shows the second piece.
    expect(views[0]!.buffer).toBe(views[1]!.buffer);
  });

  it('tells whether it saw anything but whitespace', () => {
    const decoder = new Base64Decoder(() => {}, (r) => new MnetFault(FaultCode.BadResponse, r));
    decoder.write(Buffer.from(' \r\n\t'));
    expect(decoder.sawData).toBe(false);
    decoder.write(Buffer.from('QQ'));
    expect(decoder.sawData).toBe(true);
  });
});
