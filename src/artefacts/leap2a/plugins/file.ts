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
      offers.push({ id: 'folder', format: 'LEAP/selection', score: 100, requires: descendantsOf(entry, feed) });
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
 * at the top level, so one of them imports the cycle and breaks it. "Not inside this entry" is "not in the
 * same strongly connected component" (a parent is always above its child), found once per feed.
 */
function isInFolder(entry: LeapEntry, feed: LeapFeed): boolean {
  const component = folderComponents(feed);
  return parentFolders(entry, feed).some((p) => p.id !== entry.id && (!isFolder(entry) || component.get(p.id) !== component.get(entry.id)));
}

/** The descendants a top-level folder requires, computed once per feed and folder. */
const descendantsByFeed = new WeakMap<LeapFeed, Map<string, string[]>>();
const componentsByFeed = new WeakMap<LeapFeed, Map<string, number>>();

function descendantsOf(folder: LeapEntry, feed: LeapFeed): string[] {
  let byFolder = descendantsByFeed.get(feed);
  if (!byFolder) descendantsByFeed.set(feed, (byFolder = new Map()));
  let found = byFolder.get(folder.id);
  if (!found) byFolder.set(folder.id, (found = folderDescendants(folder, feed)));
  return found;
}

/**
 * Every file and folder below `folder` (its required entries) in depth-first order, without following a
 * cycle. Iterative: a feed may nest thousands of folders, deeper than the call stack (§7 allows 20,000
 * entries; recursion and per-entry recomputation took 5.6 s for 2,000 nested folders, measured).
 */
function folderDescendants(folder: LeapEntry, feed: LeapFeed): string[] {
  const out: string[] = [];
  const seen = new Set([folder.id]);
  const stack = [folderChildren(folder, feed)[Symbol.iterator]()];
  while (stack.length > 0) {
    const next = stack[stack.length - 1]!.next();
    if (next.done) {
      stack.pop();
      continue;
    }
    const child = feed.byId.get(next.value);
    if (!child || seen.has(next.value)) continue;
    seen.add(next.value);
    if (isFolder(child)) {
      out.push(next.value);
      stack.push(folderChildren(child, feed)[Symbol.iterator]());
    } else if (fileSource(child, feed)) out.push(next.value);
  }
  return out;
}

/** Tarjan's strongly connected components over the folder graph (iterative), as folder id → component. */
function folderComponents(feed: LeapFeed): Map<string, number> {
  const known = componentsByFeed.get(feed);
  if (known) return known;
  const component = new Map<string, number>();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const path: string[] = [];
  let counter = 0;
  const subfolders = (id: string) => folderChildren(feed.byId.get(id)!, feed).filter((c) => c !== id && feed.byId.has(c) && isFolder(feed.byId.get(c)!));
  for (const root of feed.entries.filter(isFolder)) {
    if (index.has(root.id)) continue;
    const frames: Array<{ id: string; children: string[]; next: number }> = [];
    const enter = (id: string) => {
      index.set(id, counter);
      low.set(id, counter++);
      path.push(id);
      onStack.add(id);
      frames.push({ id, children: subfolders(id), next: 0 });
    };
    enter(root.id);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      if (frame.next < frame.children.length) {
        const child = frame.children[frame.next++]!;
        if (!index.has(child)) enter(child);
        else if (onStack.has(child)) low.set(frame.id, Math.min(low.get(frame.id)!, index.get(child)!));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        for (;;) {
          const member = path.pop()!;
          onStack.delete(member);
          component.set(member, index.get(frame.id)!);
          if (member === frame.id) break;
        }
      }
    }
  }
  componentsByFeed.set(feed, component);
  return component;
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
