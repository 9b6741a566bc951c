import fsp from 'node:fs/promises';
import { FaultCode, MnetFault } from '../errors.js';

const MAGIC_TYPES: ReadonlyArray<readonly [string | number[], string]> = [
  ['%PDF-', 'application/pdf'],
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'image/png'],
  [[0xff, 0xd8, 0xff], 'image/jpeg'],
  ['GIF87a', 'image/gif'],
  ['GIF89a', 'image/gif'],
  [[0x1f, 0x8b], 'application/gzip'],
  ['BZh', 'application/x-bzip2'],
  [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], 'application/x-7z-compressed'],
  ['Rar!', 'application/x-rar'],
  [[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], 'application/x-ole-storage'],
  ['<?xml', 'text/xml'],
];

/** A short MIME description of a file head that is not a zip, for the §3.1.5 message. */
function sniffNonZip(head: Buffer): string {
  if (head.length === 0) return 'application/x-empty';
  for (const [magic, type] of MAGIC_TYPES) {
    const bytes = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : Buffer.from(magic);
    if (head.subarray(0, bytes.length).equals(bytes)) return type;
  }
  const text = head.toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html')) return 'text/html';
  // Text: no NUL and no control bytes other than tab, newline, carriage return and form feed.
  return head.every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d) ? 'text/plain' : 'application/octet-stream';
}

/**
 * §3.1 step 5 / §3.3 row 3 / §8 row 22: the file starts like a zip (`PK\3\4`, or `PK\5\6` for an empty
 * archive), else MnetFault 0 "Not a valid zipfile - mimetype was <sniffed>".
 */
export async function checkZipMagic(zipPath: string): Promise<void> {
  const handle = await fsp.open(zipPath, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const signature = head.subarray(0, 4).toString('latin1');
  if (signature === 'PK\x03\x04' || signature === 'PK\x05\x06') return;
  throw new MnetFault(FaultCode.Application, `Not a valid zipfile - mimetype was ${sniffNonZip(head)}`);
}
