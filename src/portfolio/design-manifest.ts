import { hashFile } from '../artefacts/blob-store.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { ExtractedEntry } from './extract-zip.js';
import { describeName, normaliseZipPath } from './zip-names.js';

/**
 * The design note's `manifest.txt` (portfolio-import.md §4.3, §8 row 41): one `md5sum:format:filename`
 * line per item. Whether a package's manifest.txt is one of these is decided by the caller (§4.3).
 */

export interface ManifestLine {
  /** Lower-case hex. */
  md5: string;
  format: 'FILE' | 'LEAP';
  /** Normalised by the §7 path rules, so it compares equal to ExtractedEntry.name. */
  filename: string;
  /** 1-based line number in manifest.txt. */
  line: number;
}

function manifestFault(message: string): MnetFault {
  return new MnetFault(FaultCode.Application, message);
}

/**
 * Parses manifest.txt. Each line is split on its first two colons only, since a filename may contain ':'.
 * Blank lines and lines starting with '#' are skipped; md5 and format are case-insensitive; the filename
 * is taken as it is (no trimming) and must pass the §7 path rules. A filename listed twice is refused.
 */
export function parseDesignManifest(text: string): ManifestLine[] {
  const lines: ManifestLine[] = [];
  const seen = new Set<string>();
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = index + 1;
      if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
      const first = raw.indexOf(':');
      const second = first < 0 ? -1 : raw.indexOf(':', first + 1);
      if (second < 0) throw manifestFault(`Invalid manifest line ${line}: expected md5sum:format:filename`);
      const md5 = raw.slice(0, first).trim();
      const format = raw.slice(first + 1, second).trim();
      const filename = raw.slice(second + 1);
      if (!/^[0-9a-f]{32}$/i.test(md5)) throw manifestFault(`Invalid manifest line ${line}: md5sum must be 32 hex digits`);
      const upper = format.toUpperCase();
      if (upper !== 'FILE' && upper !== 'LEAP') throw manifestFault(`Unknown manifest format ${describeName(format)} on line ${line}`);
      if (filename === '') throw manifestFault(`Invalid manifest line ${line}: missing filename`);
      const checked = normaliseZipPath(filename);
      if ('reason' in checked) throw manifestFault(`Invalid manifest line ${line}: unsafe filename ${describeName(filename)} (${checked.reason})`);
      if (seen.has(checked.path)) throw manifestFault(`Invalid manifest line ${line}: ${describeName(checked.path)} is listed twice`);
      seen.add(checked.path);
      lines.push({ md5: md5.toLowerCase(), format: upper, filename: checked.path, line });
    });
  return lines;
}

/**
 * Every listed file is in the package with the listed md5 (§4.3); unlisted entries are the caller's to
 * report. The md5s are computed here, only for design-note packages, rather than for every extracted file.
 */
export async function checkDesignManifest(lines: readonly ManifestLine[], entries: readonly ExtractedEntry[]): Promise<void> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const line of lines) {
    if (!byName.has(line.filename)) throw manifestFault(`Manifest file ${describeName(line.filename)} missing from package`);
  }
  for (const line of lines) {
    const { hash } = await hashFile(byName.get(line.filename)!.path, 'md5');
    if (hash !== line.md5) throw manifestFault(`md5 mismatch for ${describeName(line.filename)}`);
  }
}
