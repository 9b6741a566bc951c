import { FaultCode, MnetFault } from '../errors.js';
import type { XmlRpcValue } from '../mnet/codec.js';

/**
 * What send_content_ready carries (portfolio-import.md §1.3): the format and the importdata struct, read
 * the way real Moodle sends them (sizes as <int>, everything else <string>) and checked before anything
 * is fetched. Errors are Mahara's texts with fault code 0 (§8).
 */
export interface ManifestItem {
  readonly filename: string;
  readonly sha1: string;
  readonly size: number;
}

export interface ImportData {
  /** Keyed by content sha1, one entry per distinct content (§4.2). */
  readonly filesmanifest: Record<string, ManifestItem>;
  readonly zipfilesha1: string;
  readonly zipfilesize: number;
  readonly totalsize: number;
  /** Never import person data over MNet (§6.5). */
  readonly skippersondata?: boolean;
  /** The design note's fetch location, when given inside importdata (§1.5). */
  readonly location?: string;
  /** Ours: the transfer came through the design note's method names, which decides manifest.txt (§4.3). */
  readonly designnames?: boolean;
}

export type PackageFormat = 'file' | 'leap';

/** §4.1: trimmed, `files` → file, `leap2a` → leap; anything else is "Invalid format <f>". */
export function normaliseFormat(raw: XmlRpcValue | undefined): PackageFormat {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (text === 'file' || text === 'files') return 'file';
  if (text === 'leap' || text === 'leap2a') return 'leap';
  throw importError(`Invalid format ${typeof raw === 'string' ? raw : String(raw ?? '')}`);
}

/** §1.3 parameter 5: '' / '0' / 0 / false mean false, anything else true; absent means false. */
export function readFetchNow(raw: XmlRpcValue | undefined): boolean {
  if (raw === undefined || raw === null) return false;
  if (typeof raw === 'string') return raw.trim() !== '' && raw.trim() !== '0';
  if (typeof raw === 'number') return raw !== 0;
  if (typeof raw === 'boolean') return raw;
  return true;
}

const SHA1 = /^[0-9a-f]{40}$/i;

/** §1.3 step 7 (Mahara's checks in Mahara's order, then ours). */
export function readImportData(raw: XmlRpcValue | undefined): ImportData {
  if (!isStruct(raw)) throw invalid('Missing files manifest in import data');
  const manifest = raw.filesmanifest;
  if (!isStruct(manifest) && !Array.isArray(manifest)) throw invalid('Missing files manifest in import data');
  const entries = Array.isArray(manifest) ? manifest.map((v, i) => [String(i), v] as const) : Object.entries(manifest);
  if (entries.length === 0) throw invalid('Missing files manifest in import data');
  if (raw.zipfilesha1 === undefined || raw.zipfilesha1 === '') throw invalid('Missing zipfile sha1 in import data');
  if (raw.totalsize === undefined) throw invalid('missing totalsize');
  if (raw.zipfilesize === undefined) throw invalid('missing zipfilesize');
  const zipfilesha1 = String(raw.zipfilesha1).toLowerCase();
  if (!SHA1.test(zipfilesha1)) throw invalid('zipfilesha1 is not a sha1');
  const filesmanifest: Record<string, ManifestItem> = {};
  for (const [key, value] of entries) {
    if (!isStruct(value)) throw invalid(`manifest item ${key} is not a struct`);
    const sha1 = String(value.sha1 ?? '').toLowerCase();
    if (!SHA1.test(sha1)) throw invalid(`manifest item ${key} has no valid sha1`);
    const filename = typeof value.filename === 'string' ? value.filename : '';
    if (!isSafeFilename(filename)) throw invalid(`manifest item ${key} has an unsafe filename`);
    filesmanifest[sha1] = { filename, sha1, size: readSize(value.size, `size of ${filename}`) };
  }
  const location = typeof raw.location === 'string' && raw.location !== '' ? raw.location : undefined;
  return {
    filesmanifest,
    zipfilesha1,
    zipfilesize: readSize(raw.zipfilesize, 'zipfilesize'),
    totalsize: readSize(raw.totalsize, 'totalsize'),
    ...(location === undefined ? {} : { location }),
  };
}

/** §1.3 step 7: a base name only: no `/`, `\` or NUL, not `.` or `..`. */
function isSafeFilename(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

function readSize(value: XmlRpcValue | undefined, what: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${what} is not a non-negative integer`);
  return n;
}

function isStruct(v: XmlRpcValue | undefined): v is { [key: string]: XmlRpcValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function invalid(detail: string): MnetFault {
  return importError(`Invalid importdata: ${detail}`);
}

/** An import refusal as Mahara words it: fault code 0, the text is the message (§1.1, §8). */
export function importError(message: string, cause?: unknown): MnetFault {
  return new MnetFault(FaultCode.Application, message, cause === undefined ? {} : { cause });
}
