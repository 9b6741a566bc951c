import fs from 'node:fs';
import zlib from 'node:zlib';

/**
 * A tiny zip writer for tests: it writes what it is told, including what a real zipper never would
 * (unsafe names, lying sizes and CRCs, symlink modes, encryption flags, unknown methods, entries that
 * share their data), so the extractor's refusals can be tested.
 */

export interface ZipEntrySpec {
  /** A string is written as UTF-8 (with the UTF-8 flag unless `utf8: false`); a Buffer as its raw bytes. */
  name: string | Buffer;
  data?: Buffer | string;
  /** Default 'deflate'. A number writes that method id with `data` as it is. */
  method?: 'stored' | 'deflate' | number;
  /** The UTF-8 flag (0x800). Default: set for string names, unset for Buffer names. */
  utf8?: boolean;
  /** Unix st_mode for the high 16 bits of the external attributes (version made by: Unix). */
  unixMode?: number;
  /** Sets the encryption flag and puts a 12-byte (fake) ZipCrypto header before the data. */
  encrypted?: boolean;
  extraField?: Buffer;
  /** Compressed bytes written as they are, instead of compressing `data` (which still gives the CRC and size). */
  rawBody?: Buffer;
  /** Lies written to both headers instead of the true values. */
  crc32?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  /** Instead of data of its own, point this central record at entry #n's local header (overlapping-file bomb). */
  sameDataAs?: number;
}

/** Data too large to hold: raw deflate chunks, written one at a time. */
export interface StreamedEntrySpec {
  name: string;
  deflated: Iterable<Buffer>;
  crc32: number;
  uncompressedSize: number;
}

const DOS_TIME = (12 << 11) | (30 << 5); // 12:30:00
const DOS_DATE = ((2025 - 1980) << 9) | (4 << 5) | 2; // 2025-04-02

interface ZipRecord {
  name: Buffer;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  extra: Buffer;
  externalAttributes: number;
  madeBy: number;
  offset: number;
}

/** The fields a local header and a central record share, in the same order: version needed … extra length. */
function writeSharedFields(b: Buffer, r: ZipRecord, at: number): void {
  b.writeUInt16LE(20, at);
  b.writeUInt16LE(r.flags, at + 2);
  b.writeUInt16LE(r.method, at + 4);
  b.writeUInt16LE(DOS_TIME, at + 6);
  b.writeUInt16LE(DOS_DATE, at + 8);
  b.writeUInt32LE(r.crc32 >>> 0, at + 10);
  b.writeUInt32LE(r.compressedSize >>> 0, at + 14);
  b.writeUInt32LE(r.uncompressedSize >>> 0, at + 18);
  b.writeUInt16LE(r.name.length, at + 22);
  b.writeUInt16LE(r.extra.length, at + 24);
}

function localHeader(r: ZipRecord): Buffer {
  const b = Buffer.alloc(30);
  b.writeUInt32LE(0x04034b50, 0);
  writeSharedFields(b, r, 4);
  return Buffer.concat([b, r.name, r.extra]);
}

function centralRecord(r: ZipRecord): Buffer {
  const b = Buffer.alloc(46);
  b.writeUInt32LE(0x02014b50, 0);
  b.writeUInt16LE(r.madeBy, 4);
  writeSharedFields(b, r, 6);
  b.writeUInt32LE(r.externalAttributes >>> 0, 38);
  b.writeUInt32LE(r.offset, 42);
  return Buffer.concat([b, r.name, r.extra]);
}

function endOfCentralDirectory(count: number, size: number, offset: number): Buffer {
  const b = Buffer.alloc(22);
  b.writeUInt32LE(0x06054b50, 0);
  b.writeUInt16LE(count, 8);
  b.writeUInt16LE(count, 10);
  b.writeUInt32LE(size, 12);
  b.writeUInt32LE(offset, 16);
  return b;
}

function prepare(spec: ZipEntrySpec): { record: Omit<ZipRecord, 'offset'>; body: Buffer } {
  const name = typeof spec.name === 'string' ? Buffer.from(spec.name, 'utf8') : spec.name;
  const utf8 = spec.utf8 ?? typeof spec.name === 'string';
  const data = typeof spec.data === 'string' ? Buffer.from(spec.data, 'utf8') : (spec.data ?? Buffer.alloc(0));
  const method = spec.method === 'stored' ? 0 : spec.method === 'deflate' || spec.method === undefined ? 8 : spec.method;
  let body = spec.rawBody ?? (method === 8 ? zlib.deflateRawSync(data) : data);
  if (spec.encrypted) body = Buffer.concat([Buffer.alloc(12, 0xa5), body]);
  const record = {
    name,
    flags: (utf8 ? 0x800 : 0) | (spec.encrypted ? 0x1 : 0),
    method,
    crc32: spec.crc32 ?? zlib.crc32(data),
    compressedSize: spec.compressedSize ?? body.length,
    uncompressedSize: spec.uncompressedSize ?? data.length,
    extra: spec.extraField ?? Buffer.alloc(0),
    externalAttributes: spec.unixMode === undefined ? 0 : spec.unixMode * 0x10000,
    madeBy: spec.unixMode === undefined ? 20 : (3 << 8) | 20,
  };
  return { record, body };
}

/** The zip, in memory. */
export function buildZip(entries: ZipEntrySpec[]): Buffer {
  const parts: Buffer[] = [];
  const records: ZipRecord[] = [];
  let offset = 0;
  for (const spec of entries) {
    const { record, body } = prepare(spec);
    if (spec.sameDataAs !== undefined) {
      const shared = records[spec.sameDataAs];
      if (!shared) throw new Error(`sameDataAs: no entry #${spec.sameDataAs}`);
      records.push({ ...shared, name: record.name, flags: record.flags, extra: record.extra });
      continue;
    }
    const header = localHeader({ ...record, offset });
    records.push({ ...record, offset });
    parts.push(header, body);
    offset += header.length + body.length;
  }
  const central = Buffer.concat(records.map(centralRecord));
  return Buffer.concat([...parts, central, endOfCentralDirectory(records.length, central.length, offset)]);
}

export function writeZip(file: string, entries: ZipEntrySpec[]): string {
  fs.writeFileSync(file, buildZip(entries));
  return file;
}

/** Streaming mode: each entry's deflated chunks go to the file one by one (for zips too big to build in memory). */
export function writeStreamedZip(file: string, entries: StreamedEntrySpec[]): string {
  const fd = fs.openSync(file, 'w');
  try {
    const records: ZipRecord[] = [];
    let offset = 0;
    const write = (b: Buffer) => {
      fs.writeSync(fd, b);
      offset += b.length;
    };
    for (const spec of entries) {
      // Sizes go in the central directory only, as a streaming zipper with data descriptors would do.
      const record: ZipRecord = {
        name: Buffer.from(spec.name, 'utf8'),
        flags: 0x800,
        method: 8,
        crc32: spec.crc32,
        compressedSize: 0,
        uncompressedSize: spec.uncompressedSize,
        extra: Buffer.alloc(0),
        externalAttributes: 0,
        madeBy: 20,
        offset,
      };
      write(localHeader({ ...record, crc32: 0, uncompressedSize: 0 }));
      const start = offset;
      for (const chunk of spec.deflated) write(chunk);
      record.compressedSize = offset - start;
      records.push(record);
    }
    const centralOffset = offset;
    for (const r of records) write(centralRecord(r));
    write(endOfCentralDirectory(records.length, offset - centralOffset, centralOffset));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/**
 * `totalBytes` of zeros as raw deflate, from one compressed segment repeated: a full flush makes each
 * segment byte-aligned and self-contained, so 1 GiB costs about 1 MB of output and no 1 GiB buffer.
 */
export function deflatedZeros(totalBytes: number, segmentBytes = 1024 * 1024): { deflated: Iterable<Buffer>; crc32: number } {
  if (totalBytes % segmentBytes !== 0) throw new Error('totalBytes must be a multiple of segmentBytes');
  const zeros = Buffer.alloc(segmentBytes);
  const segment = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const count = totalBytes / segmentBytes;
  let crc = 0;
  for (let i = 0; i < count; i++) crc = zlib.crc32(zeros, crc);
  function* chunks(): Generator<Buffer> {
    for (let i = 0; i < count; i++) yield segment;
    yield zlib.deflateRawSync(Buffer.alloc(0)); // an empty final block
  }
  return { deflated: { [Symbol.iterator]: chunks }, crc32: crc };
}
