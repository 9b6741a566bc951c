import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { extractZip } from '../../../src/portfolio/extract-zip.js';
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from '../../../src/portfolio/zip-limits.js';
import { checkZipMagic } from '../../../src/portfolio/zip-magic.js';
import { buildZip, deflatedZeros, writeStreamedZip, writeZip, type ZipEntrySpec } from '../../helpers/zip-writer.js';

const LEAP2A_FIXTURES = fileURLToPath(new URL('../../fixtures/leap2a/', import.meta.url));
const MiB = 1024 * 1024;
const UNZIP_FAILED = 'Failed to unzip the file received from the transport object';
/** 1024 bytes in segments of at most 250 (a segment over 255 bytes is refused on its own). */
const NAME_1024 = [...Array.from({ length: 4 }, (_, i) => String(i).repeat(250)), 'y'.repeat(20)].join('/');

let work: string;
let dest: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'extract-zip-'));
  dest = path.join(work, 'extract');
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(work, { recursive: true, force: true });
});

const sha1 = (data: Buffer | string) => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const zipOf = (entries: ZipEntrySpec[], name = 'import.zip') => writeZip(path.join(work, name), entries);
const limits = (overrides: Partial<ZipLimits> = {}): ZipLimits => ({ ...DEFAULT_ZIP_LIMITS, ...overrides });

/** The MnetFault 0 an extraction is refused with: its message, and the rule named by its cause. */
async function refusal(promise: Promise<unknown>): Promise<{ message: string; reason: string }> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    expect((err as MnetFault).code).toBe(FaultCode.Application);
    const cause = (err as MnetFault).cause;
    return { message: (err as MnetFault).message, reason: cause instanceof Error ? cause.message : '' };
  }
  return expect.fail('expected the package to be refused');
}

/** Bytes of all files under `dir`. */
function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .reduce((sum, d) => sum + fs.statSync(path.join(d.parentPath, d.name)).size, 0);
}

/**
 * Records how many bytes were on disk when the extractor cleaned up after a refusal. Nothing is deleted
 * before that, so it is everything the extraction wrote.
 */
function recordBytesAtCleanup(): number[] {
  const seen: number[] = [];
  const rm = fsp.rm.bind(fsp);
  vi.spyOn(fsp, 'rm').mockImplementation(async (target, options) => {
    seen.push(bytesUnder(String(target)));
    return rm(target, options);
  });
  return seen;
}

describe('extractZip: packages it accepts', () => {
  it('returns the files in zip order, whichever finishes first', async () => {
    const specs: ZipEntrySpec[] = [{ name: 'big.bin', data: Buffer.alloc(16 * MiB, 1), method: 'stored' }];
    for (let i = 0; i < 9; i++) specs.push({ name: `dir${i % 3}/small-${i}.txt`, data: `small ${i}` });
    const entries = await extractZip(zipOf(specs, 'order.zip'), dest, limits());
    expect(entries.map((e) => e.name)).toEqual(specs.map((spec) => spec.name));
    expect(entries.map((e) => fs.readFileSync(e.path).length)).toEqual([16 * MiB, ...Array.from({ length: 9 }, (_, i) => `small ${i}`.length)]);
  });

  it('writes stored and deflated files with their size, sha1 and sha256, mode 0600, inside destDir', async () => {
    const essay = Buffer.from('%PDF-1.4 essay '.repeat(100));
    const zip = zipOf([
      { name: 'essay.pdf', data: essay, method: 'deflate' },
      { name: 'notes.txt', data: 'plain notes', method: 'stored' },
      { name: 'empty.txt', data: '', method: 'stored' },
    ]);
    const entries = await extractZip(zip, dest, limits());
    expect(entries).toEqual([
      { name: 'essay.pdf', path: path.join(dest, 'essay.pdf'), size: essay.length, sha1: sha1(essay), sha256: sha256(essay) },
      { name: 'notes.txt', path: path.join(dest, 'notes.txt'), size: 11, sha1: sha1('plain notes'), sha256: sha256('plain notes') },
      { name: 'empty.txt', path: path.join(dest, 'empty.txt'), size: 0, sha1: sha1(''), sha256: sha256('') },
    ]);
    expect(fs.readFileSync(path.join(dest, 'essay.pdf'))).toEqual(essay);
    for (const e of entries) expect(fs.statSync(e.path).mode & 0o777).toBe(0o600);
  });

  it('creates directories for directory entries and for parents, and lists only files', async () => {
    const zip = zipOf([
      { name: 'export_info/', method: 'stored' },
      { name: 'empty-dir/', method: 'stored', unixMode: 0o040755 },
      { name: 'export_info/files/photo 1.jpg', data: 'jpeg bytes' },
      { name: './files//a.txt', data: 'a' },
    ]);
    const entries = await extractZip(zip, dest, limits());
    expect(entries.map((e) => e.name)).toEqual(['export_info/files/photo 1.jpg', 'files/a.txt']);
    expect(fs.statSync(path.join(dest, 'empty-dir')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'files/a.txt'), 'utf8')).toBe('a');
  });

  it('keeps a nested archive as a file', async () => {
    const inner = buildZip([{ name: 'inner.txt', data: 'inside' }]);
    const entries = await extractZip(zipOf([{ name: 'files/inner.zip', data: inner }]), dest, limits());
    expect(entries).toMatchObject([{ name: 'files/inner.zip', size: inner.length, sha1: sha1(inner) }]);
    expect(fs.readdirSync(path.join(dest, 'files'))).toEqual(['inner.zip']);
  });

  it('decodes names: UTF-8 when flagged, CP437 otherwise, and the Info-ZIP Unicode Path field', async () => {
    const cp437 = Buffer.from([0x72, 0x82, 0x73, 0x75, 0x6d, 0x82, 0x2e, 0x74, 0x78, 0x74]); // r‚sum‚.txt in CP437
    const unicodeName = Buffer.from('Zoë – notes.txt', 'utf8');
    const rawName = Buffer.from('Zo? - notes.txt', 'latin1');
    const upath = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), unicodeName]);
    upath.writeUInt32LE(zlib.crc32(rawName), 1);
    const extra = Buffer.concat([Buffer.from([0x75, 0x70, upath.length, 0]), upath]);
    const zip = zipOf([
      { name: 'Zoë Novak/essay: draft.txt', data: '1' },
      { name: cp437, data: '2' },
      { name: rawName, data: '3', extraField: extra },
    ]);
    const entries = await extractZip(zip, dest, limits());
    expect(entries.map((e) => e.name)).toEqual(['Zoë Novak/essay: draft.txt', 'résumé.txt', 'Zoë – notes.txt']);
    expect(fs.readFileSync(path.join(dest, 'résumé.txt'), 'utf8')).toBe('2');
  });

  it('accepts names at the length and depth limits', async () => {
    const deep = Array.from({ length: 32 }, (_, i) => `d${i}`).join('/');
    const entries = await extractZip(zipOf([{ name: deep, data: 'deep' }, { name: NAME_1024, data: 'long' }]), dest, limits());
    expect(entries.map((e) => e.name)).toEqual([deep, NAME_1024]);
  });

  it('extracts an empty archive to an empty directory, and into an existing empty directory', async () => {
    expect(await extractZip(zipOf([]), dest, limits())).toEqual([]);
    expect(fs.readdirSync(dest)).toEqual([]);
    const again = await extractZip(zipOf([{ name: 'a.txt', data: 'a' }], 'a.zip'), dest, limits());
    expect(again.map((e) => e.name)).toEqual(['a.txt']);
  });

  it('refuses a destination directory that is not empty, leaving it alone', async () => {
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, 'keep.txt'), 'mine');
    await expect(extractZip(zipOf([{ name: 'a.txt', data: 'a' }]), dest, limits())).rejects.toMatchObject({ code: FaultCode.Internal });
    expect(fs.readdirSync(dest)).toEqual(['keep.txt']);
  });
});

describe('extractZip: the Moodle packages (test/fixtures/leap2a/moodle)', () => {
  const packages: Record<string, Array<[string, string, number]>> = {
    'assign-files.zip': [
      ['leap2a.xml', '224ec100fe9d3d1c6ecb24ad842256bd2be13e40', 1961],
      ['files/pilot-site.png', '23ddf5e44439ad59c7f09e7ba14108497a665e28', 1932],
      ['files/Research proposal v2.pdf', 'd2e2b06044bde876d1496464b8bcc4ae671739f9', 2455],
    ],
    'assign-onlinetext.zip': [['leap2a.xml', '211f9adb0a5ad056d47cf0f023c8d799f11344f4', 1303]],
    'file-format-assign-files.zip': [
      ['pilot-site.png', '23ddf5e44439ad59c7f09e7ba14108497a665e28', 1932],
      ['Research proposal v2.pdf', 'd2e2b06044bde876d1496464b8bcc4ae671739f9', 2455],
    ],
    'forum-discussion.zip': [
      ['leap2a.xml', '16e316217dad6b97f77bb7739fe94b47e2f3d513', 5066],
      ['files/Safety notes.pdf', 'd84dd7b59ef80c253428052c52f6103e6a64462a', 2349],
      ['files/site-map.png', 'dd3ee6c49a796e8df08f330ab035b37ba6a52350', 6688],
    ],
    'forum-post.zip': [
      ['leap2a.xml', 'ce610dfc7f7299e8f199c0f2d3fdcd44ed0030e0', 2303],
      ['files/reading-log-week3.pdf', 'ae5974d7a1f4fb145bd51a8163ceb300f47df8f8', 2061],
    ],
  };

  it.each(Object.entries(packages))('%s lists the expected entries with their sha1', async (zip, expected) => {
    const entries = await extractZip(path.join(LEAP2A_FIXTURES, 'moodle', zip), dest, limits());
    expect(entries.map((e) => [e.name, e.sha1, e.size])).toEqual(expected);
    for (const e of entries) expect(sha1(fs.readFileSync(e.path))).toBe(e.sha1);
    const xml = entries.find((e) => e.name === 'leap2a.xml');
    if (xml) {
      const unzipped = path.join(LEAP2A_FIXTURES, 'moodle', zip.replace(/\.zip$/, '.leap2a.xml'));
      expect(xml.sha1).toBe(sha1(fs.readFileSync(unzipped)));
    }
  });
});

describe('extractZip: unsafe entries reject the whole package (§8 row 24)', () => {
  const unsafe: Array<[string, ZipEntrySpec[], RegExp]> = [
    ['a parent segment', [{ name: '../evil.txt', data: 'x' }], /parent directory/],
    ['a parent segment inside the path', [{ name: 'files/../../evil.txt', data: 'x' }], /parent directory/],
    ['an absolute path', [{ name: '/abs.txt', data: 'x' }], /absolute/],
    ['a drive letter', [{ name: 'C:/x.txt', data: 'x' }], /absolute/],
    ['a Windows path', [{ name: 'C:\\x.txt', data: 'x' }], /backslash/],
    ['a UNC path', [{ name: '\\\\host\\share\\x.txt', data: 'x' }], /backslash/],
    ['a backslash', [{ name: 'files\\x.txt', data: 'x' }], /backslash/],
    ['a NUL', [{ name: 'a\u0000.txt', data: 'x' }], /control/],
    ['a control character', [{ name: 'bell\u0007.txt', data: 'x' }], /control/],
    ['a CP437 control byte', [{ name: Buffer.from('a\u0001.txt', 'latin1'), data: 'x' }], /control/],
    ['invalid UTF-8 under the UTF-8 flag', [{ name: Buffer.from([0x66, 0xff, 0xfe]), utf8: true, data: 'x' }], /not valid UTF-8/],
    ['a name over 1024 bytes', [{ name: `${NAME_1024}z`, data: 'x' }], /name too long/],
    ['a path segment over 255 bytes', [{ name: `${'é'.repeat(126)}.txt`, data: 'x' }], /segment too long/],
    ['a path 33 deep', [{ name: Array.from({ length: 33 }, () => 'd').join('/'), data: 'x' }], /too deep/],
    ['an empty name', [{ name: './', data: '' }], /empty name/],
    ['a symlink', [{ name: 'link', data: '/etc/passwd', unixMode: 0o120777 }], /special file/],
    ['a FIFO', [{ name: 'fifo', unixMode: 0o010644 }], /special file/],
    ['a character device', [{ name: 'tty', unixMode: 0o020644 }], /special file/],
    ['a block device', [{ name: 'sda', unixMode: 0o060644 }], /special file/],
    ['a duplicate', [{ name: 'a.txt', data: '1' }, { name: 'a.txt', data: '2' }], /duplicate/],
    ['a case-insensitive duplicate', [{ name: 'Essay.PDF', data: '1' }, { name: 'essay.pdf', data: '2' }], /duplicate/],
    ['a duplicate after normalisation', [{ name: 'x/./a.txt', data: '1' }, { name: 'x//a.txt', data: '2' }], /duplicate/],
    ['a duplicate in another Unicode form', [{ name: 'caf\u00e9.txt', data: '1' }, { name: 'cafe\u0301.txt', data: '2' }], /duplicate/],
    ['a file and a directory of one name', [{ name: 'a', data: '1' }, { name: 'A/', method: 'stored' }], /duplicate/],
    ['an entry under a file', [{ name: 'a', data: '1' }, { name: 'a/b.txt', data: '2' }], /inside a file/],
    ['an encrypted entry', [{ name: 'secret.txt', data: 'x', encrypted: true }], /encrypted/],
    ['compression method 12 (bzip2)', [{ name: 'a.bz2.txt', data: 'BZh91AY&SY', method: 12 }], /unsupported compression method 12/],
  ];

  it.each(unsafe)('%s', async (_case, entries, reason) => {
    const zip = zipOf([{ name: 'first.txt', data: 'extracted before the bad entry' }, ...entries]);
    const refused = await refusal(extractZip(zip, dest, limits()));
    expect(refused.message).toMatch(new RegExp(`^${UNZIP_FAILED}: unsafe entry `));
    expect(refused.reason).toMatch(reason);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('names the entry in the message, with control characters escaped', async () => {
    expect((await refusal(extractZip(zipOf([{ name: '../evil.txt', data: 'x' }]), dest, limits()))).message).toBe(
      `${UNZIP_FAILED}: unsafe entry ../evil.txt`,
    );
    expect((await refusal(extractZip(zipOf([{ name: 'a\u0000b', data: 'x' }], 'nul.zip'), dest, limits()))).message).toBe(
      `${UNZIP_FAILED}: unsafe entry a\\x00b`,
    );
  });

  it('empties a destination directory that existed, instead of removing it', async () => {
    fs.mkdirSync(dest);
    const zip = zipOf([{ name: 'dir/ok.txt', data: 'ok' }, { name: '/abs.txt', data: 'x' }]);
    await refusal(extractZip(zip, dest, limits()));
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});

describe('extractZip: corrupt packages (§8 row 23)', () => {
  const good = { name: 'a.txt', data: 'hello hello hello hello' };
  const corrupt: Array<[string, () => string, RegExp]> = [
    ['a wrong CRC', () => zipOf([{ ...good, crc32: 0x12345678 }]), /CRC mismatch/],
    ['an uncompressed size that is too small', () => zipOf([{ ...good, uncompressedSize: 5 }]), /too many bytes/],
    ['an uncompressed size that is too large', () => zipOf([{ ...good, uncompressedSize: 500 }]), /not enough bytes/],
    ['stored sizes that disagree', () => zipOf([{ ...good, method: 'stored', compressedSize: 3 }]), /size mismatch/],
    ['a compressed size past the end of the file', () => zipOf([{ ...good, compressedSize: 5000 }]), /overflows/],
    ['garbage instead of deflate data', () => zipOf([{ ...good, rawBody: Buffer.from([0xff, 0xff, 0xff, 0xff]) }]), /invalid/i],
    [
      'a truncated file',
      () => {
        const zip = buildZip([good]);
        return writeFile('cut.zip', zip.subarray(0, zip.length - 10));
      },
      /central directory/,
    ],
    ['not a zip at all', () => writeFile('x.zip', Buffer.from('%PDF-1.4\n')), /central directory/],
    ['a missing file', () => path.join(work, 'missing.zip'), /ENOENT/],
  ];
  function writeFile(name: string, data: Buffer): string {
    fs.writeFileSync(path.join(work, name), data);
    return path.join(work, name);
  }

  it.each(corrupt)('%s', async (_case, make, reason) => {
    const refused = await refusal(extractZip(make(), dest, limits()));
    expect(refused.message).toBe(UNZIP_FAILED);
    expect(refused.reason).toMatch(reason);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('stops the file being written beside a corrupt one and leaves nothing (two files are written at once)', async () => {
    const big = Buffer.alloc(64 * MiB, 7);
    const zip = zipOf([{ name: 'big.bin', data: big, method: 'stored' }, { ...good, crc32: 0x12345678 }], 'pair.zip');
    const seen = recordBytesAtCleanup();
    const refused = await refusal(extractZip(zip, dest, limits()));
    expect(refused.reason).toMatch(/CRC mismatch for a\.txt/);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeLessThan(big.length);
    expect(fs.existsSync(dest)).toBe(false);
  });
});

describe('extractZip: limits (§8 row 25, checklist 47–48)', () => {
  it('refuses more than 10 000 entries before extracting any, and accepts the limit itself', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, method: 'stored' as const }));
    const refused = await refusal(extractZip(zipOf(many(10_001)), dest, limits()));
    expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (entries)`);
    expect(fs.existsSync(dest)).toBe(false);
    expect(await extractZip(zipOf(many(10_000), 'ok.zip'), dest, limits())).toHaveLength(10_000);
  });

  it('counts the bytes written over all entries against maxTotalBytes', async () => {
    const kb = (n: number) => ({ name: `f${n}.bin`, data: Buffer.alloc(1000, n), method: 'stored' as const });
    const refused = await refusal(extractZip(zipOf([kb(1), kb(2), kb(3)]), dest, limits({ maxTotalBytes: 2999 })));
    expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (total size)`);
    expect(await extractZip(zipOf([kb(1), kb(2), kb(3)], 'ok.zip'), dest, limits({ maxTotalBytes: 3000 }))).toHaveLength(3);
  });

  it('allows a high ratio up to ratioMinBytes, and refuses it past that', async () => {
    const zeros = (name: string, size: number) => ({ name, data: Buffer.alloc(size) });
    expect(await extractZip(zipOf([zeros('one-mib.bin', MiB)]), dest, limits())).toHaveLength(1);
    const seen = recordBytesAtCleanup();
    const { deflated, crc32 } = deflatedZeros(32 * MiB);
    const zip = writeStreamedZip(path.join(work, 'bomb32.zip'), [{ name: 'zeros.bin', deflated, crc32, uncompressedSize: 32 * MiB }]);
    const refused = await refusal(extractZip(zip, path.join(work, 'x'), limits()));
    expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (compression ratio)`);
    // 200 × the compressed size, no more.
    expect(seen[0]).toBeLessThanOrEqual(200 * fs.statSync(zip).size);
  });

  it('stops a 1 GiB single-entry bomb at totalsize + 1 MiB, quickly', async () => {
    const { deflated, crc32 } = deflatedZeros(1024 * MiB);
    const zip = writeStreamedZip(path.join(work, 'bomb.zip'), [{ name: 'zeros.bin', deflated, crc32, uncompressedSize: 1024 * MiB }]);
    expect(fs.statSync(zip).size).toBeLessThan(1.1 * MiB);
    const declaredTotalsize = 10_000;
    const maxTotalBytes = Math.min(declaredTotalsize + MiB, 2048 * MiB);
    const seen = recordBytesAtCleanup();
    const started = Date.now();
    const refused = await refusal(extractZip(zip, dest, limits({ maxTotalBytes })));
    expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (total size)`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[0]).toBeLessThanOrEqual(maxTotalBytes);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('stops a 16 KB zip that inflates to 1 GiB (entries sharing one deflate stream)', async () => {
    const shared: ZipEntrySpec[] = [{ name: 'z0', data: Buffer.alloc(8 * MiB) }];
    for (let i = 1; i < 128; i++) shared.push({ name: `z${i}`, sameDataAs: 0 });
    const zip = zipOf(shared, 'overlap.zip');
    expect(fs.statSync(zip).size).toBeLessThan(20_000);
    const compressedEntry = zlib.deflateRawSync(Buffer.alloc(8 * MiB)).length;
    const cases = [
      // Per entry; two entries are written at once (FILES_AT_ONCE in extract-zip.ts).
      { overrides: {}, which: 'compression ratio', bound: 2 * 200 * compressedEntry },
      { overrides: { maxRatio: 1e9, maxTotalBytes: 10_000 + MiB }, which: 'total size', bound: 10_000 + MiB },
    ];
    for (const { overrides, which, bound } of cases) {
      const seen = recordBytesAtCleanup();
      const refused = await refusal(extractZip(zip, dest, limits(overrides)));
      expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (${which})`);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeLessThanOrEqual(bound);
      expect(fs.existsSync(dest)).toBe(false);
      vi.restoreAllMocks();
    }
  });

  it('gives up after maxSeconds', async () => {
    const zip = zipOf([{ name: 'a.txt', data: 'a' }]);
    expect((await refusal(extractZip(zip, dest, limits({ maxSeconds: 0 })))).message).toBe(`${UNZIP_FAILED}: limits exceeded (time)`);

    const { deflated, crc32 } = deflatedZeros(1024 * MiB);
    const bomb = writeStreamedZip(path.join(work, 'slow.zip'), [{ name: 'zeros.bin', deflated, crc32, uncompressedSize: 1024 * MiB }]);
    const started = Date.now();
    const refused = await refusal(extractZip(bomb, dest, limits({ maxSeconds: 0.2, maxRatio: 1e9 })));
    expect(refused.message).toBe(`${UNZIP_FAILED}: limits exceeded (time)`);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(fs.existsSync(dest)).toBe(false);
  });
});

describe('checkZipMagic (§3.1 step 5, §8 row 22)', () => {
  const file = (name: string, data: Buffer | string) => {
    fs.writeFileSync(path.join(work, name), data);
    return path.join(work, name);
  };

  it('accepts a zip and an empty archive', async () => {
    await expect(checkZipMagic(zipOf([{ name: 'a.txt', data: 'a' }]))).resolves.toBeUndefined();
    await expect(checkZipMagic(zipOf([], 'empty.zip'))).resolves.toBeUndefined();
    await expect(checkZipMagic(path.join(LEAP2A_FIXTURES, 'moodle/forum-post.zip'))).resolves.toBeUndefined();
  });

  it.each([
    ['a PDF', '%PDF-1.4\n%âãÏÓ\n', 'application/pdf'],
    ['a PNG', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), 'image/png'],
    ['a JPEG', Buffer.from('ffd8ffe000104a464946', 'hex'), 'image/jpeg'],
    ['a GIF', 'GIF89a\x01\x00', 'image/gif'],
    ['a gzip file', Buffer.from('1f8b0800000000000003', 'hex'), 'application/gzip'],
    ['an HTML error page', '<!DOCTYPE html><html><body>502 Bad Gateway</body></html>', 'text/html'],
    ['an XML-RPC fault', '<?xml version="1.0"?><methodResponse/>', 'text/xml'],
    ['base64 text', 'UEsDBBQAAAAIAA==\n', 'text/plain'],
    ['binary data', Buffer.from([0x00, 0x01, 0x02, 0x50, 0x4b]), 'application/octet-stream'],
    ['a spanned-archive marker', Buffer.from('504b0708504b0304', 'hex'), 'application/octet-stream'],
    ['an empty file', '', 'application/x-empty'],
  ])('refuses %s', async (_case, data, sniffed) => {
    const refused = await refusal(checkZipMagic(file('import.zip', data)));
    expect(refused.message).toBe(`Not a valid zipfile - mimetype was ${sniffed}`);
  });
});
