import path from 'node:path';
import { addTags, createArtefact, type NewArtefact } from '../artefact-store.js';
import type { ImportContext } from '../plugin.js';
import type { LeapFeed } from './feed.js';
import type { LeapImportOptions, LeapRun } from './types.js';

export function createRun(xmlPath: string, ctx: ImportContext, feed: LeapFeed, options: LeapImportOptions): LeapRun {
  const xmlDir = path.dirname(path.resolve(xmlPath));
  return {
    ctx,
    feed,
    options,
    xmlDir,
    rootDir: path.resolve(options.rootDir ?? xmlDir),
    artefactsByEntry: new Map(),
    viewsByEntry: new Map(),
    created: [],
    pluginState: new Map(),
  };
}

/** Notes that `entryId` became artefact `id` (§6.6 step 5: the merged entry → artefacts map). */
export function recordArtefact(run: LeapRun, entryId: string, id: number): void {
  run.artefactsByEntry.set(entryId, [...(run.artefactsByEntry.get(entryId) ?? []), id]);
}

/** Creates an artefact through the import's transaction and remembers it as this import's. */
export async function newArtefact(run: LeapRun, entryId: string | null, a: NewArtefact, tags: readonly string[] = []): Promise<number> {
  const id = await createArtefact(run.ctx, a);
  run.created.push(id);
  if (entryId !== null) recordArtefact(run, entryId, id);
  if (tags.length > 0) await addTags(run.ctx, id, tags);
  return id;
}

/** Takes back an artefact this import made (a comment whose target never appeared). */
export async function dropArtefact(run: LeapRun, id: number): Promise<void> {
  await run.ctx.trx('artefacts').where({ id }).delete();
  const at = run.created.indexOf(id);
  if (at >= 0) run.created.splice(at, 1);
  for (const [entryId, ids] of run.artefactsByEntry) {
    const rest = ids.filter((i) => i !== id);
    if (rest.length === 0) run.artefactsByEntry.delete(entryId);
    else if (rest.length !== ids.length) run.artefactsByEntry.set(entryId, rest);
  }
}

/** A plugin's state for this run, made on first use. */
export function stateOf<T>(run: LeapRun, plugin: string, init: () => T): T {
  if (!run.pluginState.has(plugin)) run.pluginState.set(plugin, init());
  return run.pluginState.get(plugin) as T;
}

const FILE_TYPES = new Set(['file', 'image', 'audio', 'video', 'archive']);

/** The first of the entry's artefacts that is a file (what a post attaches, §6.8). */
export async function firstFileArtefact(run: LeapRun, entryId: string): Promise<number | undefined> {
  const ids = run.artefactsByEntry.get(entryId);
  if (!ids || ids.length === 0) return undefined;
  const rows = (await run.ctx.trx('artefacts').whereIn('id', ids).select('id', 'artefacttype')) as Array<{ id: number; artefacttype: string }>;
  return ids.find((id) => rows.some((r) => r.id === id && FILE_TYPES.has(r.artefacttype)));
}

/** `<site path>artefact/file/download.php?file=<id>` (§6.8: root-relative, measured). */
export function downloadUrl(run: LeapRun, fileId: number): string {
  return `${run.ctx.sitePath}artefact/file/download.php?file=${fileId}`;
}
