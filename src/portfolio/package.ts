import path from 'node:path';
import { importLeapFeed, isLeapPlugin } from '../artefacts/leap2a/index.js';
import type { FormatId, ImportContext, ImportOutcome, PackageFile } from '../artefacts/plugin.js';
import type { PluginRegistry, Priorities } from '../artefacts/registry.js';
import { checkDesignManifest, parseDesignManifest, type ManifestLine } from './design-manifest.js';
import type { ExtractedEntry } from './extract-zip.js';
import { importError, type ImportData, type PackageFormat } from './import-data.js';
import fs from 'node:fs/promises';

export interface PackageRequest {
  readonly format: PackageFormat;
  readonly importData: ImportData;
  /** The call came through the design note's `portfolio/content_ready` (§4.3). */
  readonly designNames: boolean;
  /** §6.5: never for imports from a peer. */
  readonly skipPersonData: boolean;
  /** The student waits (send_content_ready with fetchnow): Mahara words validation errors differently then. */
  readonly immediate: boolean;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** §6.1: the names Mahara looks for at the extraction root, in this order. */
const LEAP_XML_NAMES = ['leap.xml', 'leap2.xml', 'leap2a.xml'];

/**
 * Routes an extracted package to the importers (portfolio-import.md §4.3): a design-note `manifest.txt`
 * routes line by line; otherwise the RPC's format takes the whole package (what real Moodle sends).
 */
export async function importPackage(
  entries: readonly ExtractedEntry[],
  request: PackageRequest,
  ctx: ImportContext,
  plugins: { registry: PluginRegistry; priorities: Priorities },
): Promise<ImportOutcome> {
  const lines = await readDesignManifest(entries, request);
  if (lines) return importByManifest(entries, lines, request, ctx, plugins);
  if (request.format === 'file') return importFiles(matchFileManifest(entries, request.importData), ctx, plugins);
  const xml = LEAP_XML_NAMES.map((name) => entries.find((e) => e.name === name)).find((e) => e !== undefined);
  // §8 row 29: the immediate path runs Mahara's validate_transported_data, which reports it as importdata.
  if (!xml) throw importError(request.immediate ? 'Invalid importdata: Missing leap xml file' : 'Missing leap xml file');
  return importLeap(xml, ctx, request, plugins);
}

/**
 * §4.3: `manifest.txt` at the root is the design note's manifest when the call used the design names, or
 * when Moodle's own filesmanifest does not list it (a Moodle `file` export may hold a student's file of
 * that name, which is then an ordinary file).
 */
async function readDesignManifest(entries: readonly ExtractedEntry[], request: PackageRequest): Promise<ManifestLine[] | undefined> {
  const manifest = entries.find((e) => e.name === 'manifest.txt');
  if (!manifest) return undefined;
  if (!request.designNames && manifest.sha1 in request.importData.filesmanifest) return undefined;
  // A manifest lists files, one short line each; anything bigger is not one (and is not read into memory).
  if (manifest.size > MAX_MANIFEST_BYTES) throw importError('Invalid manifest: manifest.txt is larger than 1 MiB');
  const lines = parseDesignManifest(await fs.readFile(manifest.path, 'utf8'));
  await checkDesignManifest(lines, entries);
  const formats = new Set(lines.map((l) => l.format));
  const consistent = request.format === 'file' ? !formats.has('LEAP') : formats.has('LEAP');
  if (!consistent) throw importError('Package format mismatch');
  return lines;
}

async function importByManifest(
  entries: readonly ExtractedEntry[],
  lines: readonly ManifestLine[],
  request: PackageRequest,
  ctx: ImportContext,
  plugins: { registry: PluginRegistry; priorities: Priorities },
): Promise<ImportOutcome> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const files: PackageFile[] = lines
    .filter((l) => l.format === 'FILE')
    .map((l) => {
      const e = byName.get(l.filename)!;
      return { path: e.path, filename: path.posix.basename(l.filename), sha1: e.sha1, sha256: e.sha256, size: e.size };
    });
  const outcomes: ImportOutcome[] = [];
  if (files.length > 0) outcomes.push(await importFiles(files, ctx, plugins));
  for (const line of lines.filter((l) => l.format === 'LEAP')) outcomes.push(await importLeap(byName.get(line.filename)!, ctx, request, plugins));
  const listed = new Set(lines.map((l) => l.filename));
  const unlisted = entries.filter((e) => !listed.has(e.name) && e.name !== 'manifest.txt').length;
  if (unlisted > 0) ctx.trace.info(`${unlisted} package entries are not in manifest.txt; LEAP documents may refer to them, the rest are ignored`);
  return {
    artefactIds: outcomes.flatMap((o) => o.artefactIds),
    // Only a file-only package has Mahara's return data (§5.5).
    returnData: lines.every((l) => l.format === 'FILE') ? outcomes[0]!.returnData : [],
  };
}

/**
 * §5.2 with our one-to-one rule: every manifest key matched by exactly one file at the extraction root
 * (names starting with '.' and sub-folders are not looked at); unknown extra files are ignored.
 */
export function matchFileManifest(entries: readonly ExtractedEntry[], importData: ImportData): PackageFile[] {
  const matches = new Map<string, ExtractedEntry[]>();
  for (const entry of entries) {
    if (entry.name.includes('/') || entry.name.startsWith('.')) continue;
    if (!(entry.sha1 in importData.filesmanifest)) continue;
    matches.set(entry.sha1, [...(matches.get(entry.sha1) ?? []), entry]);
  }
  const mismatch = 'Files received did not exactly match what was in the manifest';
  const files: PackageFile[] = [];
  for (const [sha1, item] of Object.entries(importData.filesmanifest)) {
    const found = matches.get(sha1) ?? [];
    if (found.length === 0) throw importError(`${mismatch}: missing ${item.filename}`);
    if (found.length > 1) throw importError(`${mismatch}: duplicate content ${sha1}`);
    files.push({ path: found[0]!.path, filename: item.filename, sha1, sha256: found[0]!.sha256, size: found[0]!.size });
  }
  // §5.4 [Ours]: a deterministic order, by filename then sha1.
  return files.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : a.sha1 < b.sha1 ? -1 : 1));
}

function importFiles(files: readonly PackageFile[], ctx: ImportContext, plugins: { registry: PluginRegistry; priorities: Priorities }): Promise<ImportOutcome> {
  return plugins.priorities.filePackagePlugin(plugins.registry).importFiles(files, ctx);
}

function importLeap(
  xml: ExtractedEntry,
  ctx: ImportContext,
  request: PackageRequest,
  plugins: { registry: PluginRegistry; priorities: Priorities },
): Promise<ImportOutcome> {
  return importLeapFeed(xml.path, ctx, {
    plugins: plugins.registry.list().filter(isLeapPlugin),
    skipPersonData: request.skipPersonData,
    adjustScore: (plugin: string, format: FormatId, score: number) => {
      const found = plugins.registry.list().find((p) => p.name === plugin);
      return found ? plugins.priorities.adjustScore(found, format, score) : score;
    },
  });
}
