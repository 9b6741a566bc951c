/**
 * The limits on an import package (portfolio-import.md §7), shared by extraction (extract-zip.ts) and the
 * name rules (zip-names.ts). Mahara relies on ZipArchive here, which only strips `..`; these are ours.
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
