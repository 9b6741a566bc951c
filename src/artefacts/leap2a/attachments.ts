import fs from 'node:fs/promises';
import path from 'node:path';
import { FaultCode, MnetFault } from '../../errors.js';
import { addTags, createFileArtefact } from '../artefact-store.js';
import { contentSrc, contentType, entryTimes, plainContent, entrySummary } from './content.js';
import { atomLinks, type LeapEntry, type LeapFeed, type LeapLink } from './feed.js';
import { recordArtefact } from './run.js';
import type { LeapRun } from './types.js';

/**
 * Files named by LEAP entries (portfolio-import.md §6.8): where a path points, and making file artefacts.
 * A path that is missing or would leave the package is a skipped entry with a warning, never a failure.
 */
export type ResolvedPath =
  | { readonly kind: 'found'; readonly path: string; readonly name: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'unsafe' };

const MAX_PATH_BYTES = 1024;
const MAX_DEPTH = 32;

/**
 * §6.8 [Ours]: the literal path first (Moodle writes names unencoded, so `a+b.pdf` and `50%.pdf` are
 * literal), then the percent-decoded one with `+` kept. Both must pass the zip-entry name rules of §7 and
 * stay inside the extraction root after normalisation (Mahara only checks that the file exists, so
 * `../../etc/passwd` would have been imported).
 */
export async function resolvePackagePath(run: LeapRun, href: string): Promise<ResolvedPath> {
  // A URL (`https://…`) names nothing in the package.
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(href)) return { kind: 'missing' };
  const candidates = [href];
  try {
    const decoded = decodeURIComponent(href);
    if (decoded !== href) candidates.push(decoded);
  } catch {
    // not valid percent-encoding: the literal path is the only reading
  }
  let unsafe = false;
  for (const candidate of candidates) {
    if (!isSafeRelativePath(candidate)) {
      unsafe = true;
      continue;
    }
    const target = path.resolve(run.xmlDir, candidate);
    if (!isInside(run.rootDir, target)) {
      unsafe = true;
      continue;
    }
    const stat = await fs.lstat(target).catch(() => undefined);
    if (!stat?.isFile()) continue;
    return { kind: 'found', path: target, name: path.basename(target) };
  }
  return unsafe ? { kind: 'unsafe' } : { kind: 'missing' };
}

/** §7 entry-name rules: relative, no `..`, no backslash or control character, bounded length and depth. */
function isSafeRelativePath(p: string): boolean {
  if (p === '' || Buffer.byteLength(p) > MAX_PATH_BYTES) return false;
  if (/[\u0000-\u001f\u007f\\]/.test(p)) return false;
  if (p.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(p)) return false;
  const segments = p.split('/');
  return !segments.includes('..') && segments.length <= MAX_DEPTH;
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The file an entry stands for (§6.6 file row): a resource's `content/@src`, or its one `enclosure` whose
 * href is not an entry id. Undefined when the entry is not a file entry. A post's out-of-line content is
 * `content/@src` on any entry (`anyType`).
 */
export function fileSource(
  entry: LeapEntry,
  feed: LeapFeed,
  anyType = false,
): { href: string; declaredMime: string | undefined; link?: LeapLink } | undefined {
  const src = contentSrc(entry);
  if (src !== undefined && (anyType || entry.types.includes('resource'))) return { href: src, declaredMime: contentType(entry) || undefined };
  const enclosures = atomLinks(entry, 'enclosure');
  if (enclosures.length !== 1 || feed.byId.has(enclosures[0]!.href)) return undefined;
  const link = enclosures[0]!;
  return { href: link.href, declaredMime: link.type, link };
}

export function missingFileWarning(entryId: string): string {
  return `the file for entry ${entryId} does not exist in the import`;
}

/**
 * Makes the file artefact of a file entry (§6.8): titled with the entry title; described by the summary,
 * or for an enclosure by the content with tags stripped; type sniffed (§5.4). A missing or unsafe path, a
 * refused type and a file over quota skip the entry with a warning (§6.9); other errors fail the import.
 */
export async function importFileEntry(run: LeapRun, entry: LeapEntry, parent: number | null, anyType = false): Promise<number | undefined> {
  const source = fileSource(entry, run.feed, anyType);
  if (!source) return undefined;
  const resolved = await resolvePackagePath(run, source.href);
  if (resolved.kind !== 'found') {
    run.ctx.trace.warn(missingFileWarning(entry.id) + (resolved.kind === 'unsafe' ? ` (${source.href} is outside the package)` : ''));
    return undefined;
  }
  const summary = entrySummary(entry);
  const fromContent = source.link ? plainContent(entry) : '';
  const description = fromContent !== '' ? fromContent : summary.value.replace(/<[^>]*>/g, '').trim();
  const id = await saveFile(run, resolved, { title: entry.title || resolved.name, description, parent, declaredMime: source.declaredMime }, entry.id);
  if (id === undefined) return undefined;
  recordArtefact(run, entry.id, id);
  await addTags(run.ctx, id, entry.tags);
  const { ctime, mtime } = entryTimes(entry, run.ctx.now);
  await run.ctx.trx('artefacts').where({ id }).update({ ctime, mtime });
  return id;
}

/** §6.8: a post's link to a file in the package that no entry describes becomes "<entry title> Attachment". */
export async function importAttachmentPath(run: LeapRun, entry: LeapEntry, resolved: ResolvedPath & { kind: 'found' }): Promise<number | undefined> {
  return saveFile(run, resolved, { title: `${entry.title} Attachment`, description: '', parent: null, declaredMime: undefined }, entry.id);
}

async function saveFile(
  run: LeapRun,
  resolved: ResolvedPath & { kind: 'found' },
  f: { title: string; description: string; parent: number | null; declaredMime: string | undefined },
  entryId: string,
): Promise<number | undefined> {
  try {
    const created = await createFileArtefact(run.ctx, {
      source: resolved.path,
      filename: resolved.name,
      title: f.title,
      description: f.description,
      parent: f.parent,
      ...(f.declaredMime ? { declaredMime: f.declaredMime } : {}),
    });
    run.created.push(created.id);
    return created.id;
  } catch (err) {
    // §6.9: one file over quota or of a refused type is skipped; the import goes on.
    if (err instanceof MnetFault && (err.code === FaultCode.QuotaExceeded || err.code === FaultCode.FileTypeNotAllowed)) {
      run.ctx.trace.warn(`${entryId}: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}
