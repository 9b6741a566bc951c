import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { FaultCode, MnetFault } from '../errors.js';

/**
 * Safe extraction of an import package (portfolio-import.md §3.3 step 4 and §7). Every refusal rejects the
 * whole package: nothing extracted so far is left behind. Mahara relies on ZipArchive here, which only
 * strips `..`; the limits below are ours.
 */

export interface ZipLimits {
  maxEntries: number;
  /** Inflated bytes over all entries, counted as written: the caller passes min(totalsize + 1 MiB, 2 GiB). */
  maxTotalBytes: number;
  /** Inflated : compressed ratio of one entry, enforced once the entry is past `ratioMinBytes`. */
  maxRatio: number;
  ratioMinBytes: number;
  /** Wall clock for the whole package; may be fractional. */
  maxSeconds: number;
  /** UTF-8 bytes of an entry name. */
  maxNameBytes: number;
  /** Path segments of an entry name. */
  maxDepth: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_ZIP_LIMITS: ZipLimits = Object.freeze({
  maxEntries: 10_000,
  maxTotalBytes: 2 * 1024 * MiB,
  maxRatio: 200,
  ratioMinBytes: MiB,
  maxSeconds: 120,
  maxNameBytes: 1024,
  maxDepth: 32,
});

export interface ExtractedEntry {
  /** Normalised zip-relative path: '/' separators, no '.' or empty segments, UTF-8. */
  name: string;
  /** Absolute path of the extracted file. */
  path: string;
  size: number;
  sha1: string;
  md5: string;
}

const UNZIP_FAILED = 'Failed to unzip the file received from the transport object';

/** §8 row 24. The message names the entry; the rule it broke is the cause, for logs. */
function unsafeEntry(name: string, reason: string): MnetFault {
  return new MnetFault(FaultCode.Application, `${UNZIP_FAILED}: unsafe entry ${describeName(name)}`, { cause: new Error(reason) });
}

/** §8 row 25: `which` is entries, total size, compression ratio or time. */
function limitsExceeded(which: string): MnetFault {
  return new MnetFault(FaultCode.Application, `${UNZIP_FAILED}: limits exceeded (${which})`);
}

/** §8 row 23: Mahara's text as it is; what yauzl, zlib or the file system said is the cause. */
function unzipFailed(cause: unknown): MnetFault {
  return new MnetFault(FaultCode.Application, UNZIP_FAILED, { cause });
}

/** A name as it may appear in a message or log line: control characters escaped, length capped. */
export function describeName(name: string): string {
  const shown = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}

export type ZipPathCheck = { path: string } | { reason: string };

/**
 * The §7 name rules for a zip-relative path, shared by zip entries, manifest.txt filenames and LEAP links:
 * the normalised path ('.' and empty segments dropped, a trailing '/' too), or why it is refused.
 */
export function normaliseZipPath(name: string, limits: Pick<ZipLimits, 'maxNameBytes' | 'maxDepth'> = DEFAULT_ZIP_LIMITS): ZipPathCheck {
  if (Buffer.byteLength(name, 'utf8') > limits.maxNameBytes) return { reason: 'name too long' };
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return { reason: 'control character in name' };
  if (name.includes('\\')) return { reason: 'backslash in name' };
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return { reason: 'absolute path' };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { reason: 'parent directory segment' };
  if (segments.length === 0) return { reason: 'empty name' };
  if (segments.length > limits.maxDepth) return { reason: 'path too deep' };
  // Longer segments would fail on disk (NAME_MAX) with a less useful error.
  if (segments.some((s) => Buffer.byteLength(s, 'utf8') > 255)) return { reason: 'path segment too long' };
  return { path: segments.join('/') };
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;
const EXTRA_UNICODE_PATH = 0x7075;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An entry's name as text. yauzl's own decoding (decodeStrings) would turn '\' into '/' and silently
 * replace bad UTF-8, so we decode the raw bytes: the Info-ZIP Unicode Path field when it matches the
 * name, else UTF-8 when flagged, else CP437 (yauzl's table). Undefined for invalid UTF-8.
 */
function decodeEntryName(entry: yauzl.Entry): string | undefined {
  const raw = entry.fileNameRaw;
  const unicodePath = entry.extraFields.find(
    (f) => f.id === EXTRA_UNICODE_PATH && f.data.length >= 6 && f.data[0] === 1 && f.data.readUInt32LE(1) === zlib.crc32(raw),
  );
  try {
    if (unicodePath) return utf8.decode(unicodePath.data.subarray(5));
    if (entry.generalPurposeBitFlag & FLAG_UTF8) return utf8.decode(raw);
  } catch {
    return undefined;
  }
  // CP437 draws the control bytes as glyphs (0x01 is '☺'); keep them as controls so the name rules see them.
  if (raw.some((b) => b < 0x20 || b === 0x7f)) return raw.toString('latin1');
  return yauzl.getFileNameLowLevel(0, raw, [], true);
}

/** Paths seen so far, compared NFC and case-folded: the extract directory must be portable. */
class SeenPaths {
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();
  private readonly explicitDirs = new Set<string>();

  /** Why `normalised` clashes with an earlier entry, or undefined; records it otherwise. */
  add(normalised: string, isDir: boolean): string | undefined {
    const key = normalised.normalize('NFC').toLowerCase();
    const segments = key.split('/');
    const ancestors = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
    if (this.files.has(key) || this.explicitDirs.has(key) || (!isDir && this.dirs.has(key))) return 'duplicate entry';
    if (ancestors.some((a) => this.files.has(a))) return 'entry inside a file entry';
    for (const a of ancestors) this.dirs.add(a);
    if (isDir) {
      this.dirs.add(key);
      this.explicitDirs.add(key);
    } else {
      this.files.add(key);
    }
    return undefined;
  }
}

interface Budget {
  written: number;
  readonly deadline: number;
}

/** Counts, limits and digests an entry's inflated bytes on their way to disk; a refused chunk is never written. */
class EntryMeter extends Transform {
  bytes = 0;
  crc = 0;
  private readonly sha1 = createHash('sha1');
  private readonly md5 = createHash('md5');

  constructor(
    private readonly budget: Budget,
    private readonly limits: ZipLimits,
    private readonly compressedSize: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = this.bytes + chunk.length;
    if (this.budget.written + chunk.length > this.limits.maxTotalBytes) return callback(limitsExceeded('total size'));
    if (bytes > this.limits.ratioMinBytes && bytes > this.limits.maxRatio * Math.max(this.compressedSize, 1)) {
      return callback(limitsExceeded('compression ratio'));
    }
    if (Date.now() >= this.budget.deadline) return callback(limitsExceeded('time'));
    this.bytes = bytes;
    this.budget.written += chunk.length;
    this.crc = zlib.crc32(chunk, this.crc);
    this.sha1.update(chunk);
    this.md5.update(chunk);
    callback(null, chunk);
  }

  digests(): { sha1: string; md5: string } {
    return { sha1: this.sha1.digest('hex'), md5: this.md5.digest('hex') };
  }
}

/**
 * Extracts `zipPath` into `destDir` (created if missing; it must be empty if it exists), enforcing §7.
 * Returns the files in zip order; directory entries only create directories. Any refusal is an
 * MnetFault 0 (§8 rows 23–25), after everything extracted so far has been removed.
 */
export async function extractZip(zipPath: string, destDir: string, limits: ZipLimits): Promise<ExtractedEntry[]> {
  const created = await prepareDestination(destDir);
  const root = await fsp.realpath(destDir);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(limitsExceeded('time')), limits.maxSeconds * 1000);
  const budget: Budget = { written: 0, deadline: Date.now() + limits.maxSeconds * 1000 };
  try {
    const extracted = await extractEntries(zipPath, root, limits, budget, abort.signal);
    if (abort.signal.aborted) throw abort.signal.reason;
    return extracted;
  } catch (err) {
    clearTimeout(timer);
    const fault = abort.signal.aborted ? (abort.signal.reason as MnetFault) : err instanceof MnetFault ? err : unzipFailed(err);
    // A failed clean-up must not hide why the package was refused; the caller removes its temp directory anyway.
    await removeExtracted(destDir, created).catch(() => undefined);
    throw fault;
  } finally {
    clearTimeout(timer);
  }
}

async function extractEntries(zipPath: string, root: string, limits: ZipLimits, budget: Budget, signal: AbortSignal): Promise<ExtractedEntry[]> {
  const zipfile = await yauzl.openPromise(zipPath, {
    lazyEntries: true,
    autoClose: true,
    decodeStrings: false,
    validateEntrySizes: true,
    strictFileNames: true,
  });
  try {
    if (zipfile.entryCount > limits.maxEntries) throw limitsExceeded('entries');
    const seen = new SeenPaths();
    const extracted: ExtractedEntry[] = [];
    for await (const entry of zipfile.eachEntry()) {
      if (signal.aborted) throw signal.reason;
      if (Date.now() >= budget.deadline) throw limitsExceeded('time');
      const target = checkEntry(entry, root, limits, seen);
      if (target.isDir) {
        await fsp.mkdir(target.path, { recursive: true, mode: 0o700 });
        continue;
      }
      await fsp.mkdir(path.dirname(target.path), { recursive: true, mode: 0o700 });
      extracted.push(await extractFile(zipfile, entry, target, limits, budget, signal));
    }
    return extracted;
  } finally {
    zipfile.close();
  }
}

interface Target {
  name: string;
  path: string;
  isDir: boolean;
}

/** Applies the per-entry rules of §7 before anything is written for the entry. */
function checkEntry(entry: yauzl.Entry, root: string, limits: ZipLimits, seen: SeenPaths): Target {
  const name = decodeEntryName(entry);
  if (name === undefined) throw unsafeEntry(entry.fileNameRaw.toString('utf8'), 'name is not valid UTF-8');
  const checked = normaliseZipPath(name, limits);
  if ('reason' in checked) throw unsafeEntry(name, checked.reason);
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw unsafeEntry(name, `special file (mode 0${type.toString(8)})`);
  if (entry.generalPurposeBitFlag & FLAG_ENCRYPTED) throw unsafeEntry(name, 'encrypted');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw unsafeEntry(name, `unsupported compression method ${entry.compressionMethod}`);
  }
  const isDir = name.endsWith('/') || type === S_IFDIR;
  const resolved = path.resolve(root, ...checked.path.split('/'));
  const relative = path.relative(root, resolved);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) throw unsafeEntry(name, 'outside the extraction directory');
  const clash = seen.add(checked.path, isDir);
  if (clash) throw unsafeEntry(name, clash);
  return { name: checked.path, path: resolved, isDir };
}

async function extractFile(
  zipfile: yauzl.ZipFile,
  entry: yauzl.Entry,
  target: Target,
  limits: ZipLimits,
  budget: Budget,
  signal: AbortSignal,
): Promise<ExtractedEntry> {
  const meter = new EntryMeter(budget, limits, entry.compressedSize);
  const source = await zipfile.openReadStreamPromise(entry);
  const handle = await fsp.open(target.path, 'wx', 0o600);
  const sink = handle.createWriteStream();
  try {
    await pipeline(source, meter, sink, { signal });
  } finally {
    // The file is closed before any clean-up removes it, also after a refusal mid-stream.
    if (!sink.closed) await once(sink, 'close');
  }
  // yauzl checks sizes but not the CRC.
  if (meter.crc !== entry.crc32) throw unzipFailed(new Error(`CRC mismatch for ${describeName(target.name)}`));
  return { name: target.name, path: target.path, size: meter.bytes, ...meter.digests() };
}

/** True when we created `destDir`; refuses a non-empty one rather than mix packages. */
async function prepareDestination(destDir: string): Promise<boolean> {
  try {
    const present = await fsp.readdir(destDir);
    if (present.length > 0) throw new MnetFault(FaultCode.Internal, `Extraction directory ${destDir} is not empty`);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fsp.mkdir(destDir, { recursive: true, mode: 0o700 });
  return true;
}

async function removeExtracted(destDir: string, created: boolean): Promise<void> {
  if (created) return fsp.rm(destDir, { recursive: true, force: true });
  for (const name of await fsp.readdir(destDir)) await fsp.rm(path.join(destDir, name), { recursive: true, force: true });
}

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
