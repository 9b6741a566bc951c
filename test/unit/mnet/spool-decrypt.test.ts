import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { rc4 } from '../../../src/mnet/rc4.js';
import { decryptSpool } from '../../../src/mnet/spool-decrypt.js';
import { faultOf } from '../../helpers/faults.js';

/** The worker's RC4 (JavaScript source, spool-decrypt.ts) must be the RC4 of rc4.ts, byte for byte. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-spool-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(data: Buffer): string {
  const at = path.join(dir, crypto.randomBytes(6).toString('hex'));
  fs.writeFileSync(at, data);
  return at;
}

async function all(pieces: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of pieces) out.push(Buffer.from(piece)); // a piece is only valid until the next
  return Buffer.concat(out);
}

describe('decryptSpool', () => {
  it('gives the RFC 6229 keystream (the file holds zeros)', async () => {
    const zeros = file(Buffer.alloc(4112));
    const out = await all(decryptSpool(zeros, Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'), 1000));
    expect(out.subarray(0, 16).toString('hex')).toBe('9ac7cc9a609d1ef7b2932899cde41b97');
    expect(out.subarray(4096).toString('hex')).toBe('a36a4c301ae8ac13610ccbc12256cacc');
  });

  it.each([1, 1000, 1 << 16, 1 << 20])('equals one-shot rc4 over 3 MB in pieces of %i bytes', async (pieceSize) => {
    const key = crypto.randomBytes(16);
    const data = crypto.randomBytes(pieceSize === 1 ? 3000 : 3_000_001);
    expect((await all(decryptSpool(file(data), key, pieceSize))).equals(rc4(key, data))).toBe(true);
  });

  it('yields nothing for an empty file', async () => {
    expect((await all(decryptSpool(file(Buffer.alloc(0)), crypto.randomBytes(16)))).length).toBe(0);
  });

  it('can be stopped early, and reports a missing file as Internal', async () => {
    const data = crypto.randomBytes(5_000_000);
    let seen = 0;
    for await (const piece of decryptSpool(file(data), crypto.randomBytes(16), 1 << 16)) {
      seen += piece.length;
      if (seen > 100_000) break;
    }
    expect(seen).toBeLessThan(data.length);
    expect(await faultOf(all(decryptSpool(path.join(dir, 'missing'), crypto.randomBytes(16))))).toBe(FaultCode.Internal);
  });
});
