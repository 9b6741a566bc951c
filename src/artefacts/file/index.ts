import { FaultCode, MnetFault } from '../../errors.js';
import { createFileArtefact, findOrCreateTopFolder } from '../artefact-store.js';
import type { LeapPlugin } from '../leap2a/index.js';
import { filePlugin as leapFileImporter } from '../leap2a/plugins/file.js';
import type { FilePackagePlugin, ImportContext, PackageFile } from '../plugin.js';

/** §5.3: the folder every `file` import goes into, matched by exact title at the top level. */
export const INCOMING_FOLDER = 'incoming';
const INCOMING_DESCRIPTION = 'Files imported from other networked hosts';

export interface FilePluginOptions {
  /** `essay.pdf` → `essay.1.pdf` when `incoming` already holds the name (portfolio.import.renameOnCollision). */
  renameOnCollision: boolean;
}

/**
 * Mahara's file plugin: its LEAP2A importer (src/artefacts/leap2a/plugins/file.ts) and import/file
 * (portfolio-import.md §5): every file of a `file` package into `incoming`, titled with its manifest
 * filename; all or nothing ("Failed to create some new artefacts", and the caller's transaction takes back
 * what was made). Returns Mahara's return data, `folder` and `file` (§5.5).
 */
export function createFilePlugin(options: FilePluginOptions): FilePackagePlugin & LeapPlugin {
  return {
    ...leapFileImporter,
    imports: [{ format: 'file/file', priority: 100 }, ...leapFileImporter.imports],
    async importFiles(files: readonly PackageFile[], ctx: ImportContext) {
      const folder = await findOrCreateTopFolder(ctx, INCOMING_FOLDER, INCOMING_DESCRIPTION);
      const taken = options.renameOnCollision ? await titlesIn(ctx, folder) : undefined;
      const ids: number[] = [];
      for (const file of files) {
        const title = taken ? uniqueTitle(file.filename, taken) : file.filename;
        taken?.add(title);
        try {
          const created = await createFileArtefact(ctx, {
            source: file.path,
            filename: file.filename,
            title,
            description: `${file.filename} (Imported from Remote host ${ctx.peerName ?? 'this site'})`,
            parent: folder,
            sha256: file.sha256,
          });
          ids.push(created.id);
        } catch (err) {
          // Type refused, over quota or a storage error (§5.4): Mahara's one message; the cause says which.
          ctx.trace.warn(`${file.filename}: ${err instanceof Error ? err.message : String(err)}`);
          throw new MnetFault(FaultCode.Application, 'Failed to create some new artefacts', { cause: err });
        }
      }
      return { artefactIds: ids, returnData: [['folder', folder], ['file', ids.length === 1 ? ids[0]! : 0]] };
    },
  };
}

async function titlesIn(ctx: ImportContext, folder: number): Promise<Set<string>> {
  const rows = (await ctx.trx('artefacts').where({ parent: folder }).select('title')) as Array<{ title: string }>;
  return new Set(rows.map((r) => r.title));
}

/** The upload naming scheme: digits before the last extension (`essay.pdf` → `essay.1.pdf` → `essay.2.pdf`). */
export function uniqueTitle(name: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 1; ; n++) {
    const candidate = `${stem}.${n}${ext}`;
    if (!taken.has(candidate)) return candidate;
  }
}
