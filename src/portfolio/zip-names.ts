import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { DEFAULT_ZIP_LIMITS, type ZipLimits } from './zip-limits.js';

/**
 * The §7 rules for names inside an import package (portfolio-import.md): decoding an entry's name,
 * normalising and refusing zip-relative paths, clashes between entries, and showing a name in a message.
 */

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

const FLAG_UTF8 = 0x800;
const EXTRA_UNICODE_PATH = 0x7075;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An entry's name as text. yauzl's own decoding (decodeStrings) would turn '\' into '/' and silently
 * replace bad UTF-8, so we decode the raw bytes: the Info-ZIP Unicode Path field when it matches the
 * name, else UTF-8 when flagged, else CP437 (yauzl's table). Undefined for invalid UTF-8.
 */
export function decodeEntryName(entry: yauzl.Entry): string | undefined {
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
export class SeenPaths {
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
