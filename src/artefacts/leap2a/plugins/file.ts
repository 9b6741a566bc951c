import { fileSource, importFileEntry } from '../attachments.js';
import { plainContent } from '../content.js';
import { entriesLinkingTo, hasCategory, isType, orderedParts, type LeapEntry, type LeapFeed } from '../feed.js';
import { newArtefact } from '../run.js';
import type { LeapOffer, LeapPlugin, LeapRun } from '../types.js';

/**
 * Mahara's LeapImportFile (portfolio-import.md §6.6, §6.7): a file entry becomes a file at the top level of
 * My Files (110, so attachments exist before the posts that link to them); a Folder selection becomes a
 * top-level folder holding its files and sub-folders (100, taking them all with it).
 */
export const filePlugin: LeapPlugin = {
  name: 'file',
  phase: 'artefacts',
  imports: [
    { format: 'LEAP/resource', priority: 110 },
    // Any entry with exactly one enclosure is a file, whatever its type.
    { format: 'LEAP/*', priority: 110 },
    { format: 'LEAP/selection', priority: 100 },
  ],

  strategiesFor(entry, feed) {
    const offers: LeapOffer[] = [];
    if (fileSource(entry, feed) && !isInFolder(entry, feed)) {
      offers.push({ id: 'file', format: isType(entry, 'resource') ? 'LEAP/resource' : 'LEAP/*', score: 110, requires: [] });
    }
    if (isFolder(entry) && !isInFolder(entry, feed)) {
      offers.push({ id: 'folder', format: 'LEAP/selection', score: 100, requires: folderDescendants(entry, feed, new Set([entry.id])) });
    }
    return offers;
  },

  async importEntry(entry, strategy, run) {
    if (strategy.id === 'file') await importFileEntry(run, entry, null);
    else await importFolder(run, entry, null, new Set());
  },
};

const isFolder = (entry: LeapEntry): boolean => isType(entry, 'selection') && hasCategory(entry, 'selection_type', 'Folder');

/** Folder children: its has_part targets in display order, then entries that say they are part of it. */
function folderChildren(folder: LeapEntry, feed: LeapFeed): string[] {
  const backLinks = entriesLinkingTo(feed, folder.id, 'is_part_of').map((e) => e.id);
  return [...new Set([...orderedParts(folder), ...backLinks])];
}

/** A folder's parent folders, by either direction of the part-of links. */
function parentFolders(entry: LeapEntry, feed: LeapFeed): LeapEntry[] {
  const parents = new Set<LeapEntry>();
  for (const link of entry.links) {
    const target = link.leapRel === 'is_part_of' ? feed.byId.get(link.href) : undefined;
    if (target && isFolder(target)) parents.add(target);
  }
  for (const e of entriesLinkingTo(feed, entry.id, 'has_part')) if (isFolder(e)) parents.add(e);
  return [...parents];
}

/**
 * Inside a folder that is not itself inside this entry: a cycle of folders (§8 row 39) leaves each of them
 * at the top level, so one of them imports the cycle and breaks it.
 */
function isInFolder(entry: LeapEntry, feed: LeapFeed): boolean {
  const own = isFolder(entry) ? new Set(folderDescendants(entry, feed, new Set([entry.id]))) : new Set<string>();
  return parentFolders(entry, feed).some((p) => p.id !== entry.id && !own.has(p.id));
}

/** Every file and folder below `folder` (its required entries), without following a cycle. */
function folderDescendants(folder: LeapEntry, feed: LeapFeed, seen: Set<string>): string[] {
  const out: string[] = [];
  for (const id of folderChildren(folder, feed)) {
    const child = feed.byId.get(id);
    if (!child || seen.has(id)) continue;
    seen.add(id);
    if (isFolder(child)) out.push(id, ...folderDescendants(child, feed, seen));
    else if (fileSource(child, feed)) out.push(id);
  }
  return out;
}

async function importFolder(run: LeapRun, folder: LeapEntry, parent: number | null, path: Set<string>): Promise<void> {
  path.add(folder.id);
  const id = await newArtefact(run, folder.id, { artefacttype: 'folder', title: folder.title, description: plainContent(folder), parent }, folder.tags);
  for (const childId of folderChildren(folder, run.feed)) {
    const child = run.feed.byId.get(childId);
    if (!child) {
      run.ctx.trace.warn(`${folder.id} has a part ${childId} that is not in the import`);
    } else if (path.has(childId)) {
      run.ctx.trace.warn(`circular folder reference at ${childId}`);
    } else if (run.artefactsByEntry.has(childId)) {
      run.ctx.trace.verbose(`${childId} is already imported; not put into folder ${folder.id} again`);
    } else if (isFolder(child)) {
      await importFolder(run, child, id, path);
    } else if (fileSource(child, run.feed)) {
      await importFileEntry(run, child, id);
    }
  }
  path.delete(folder.id);
}
