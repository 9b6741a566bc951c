import { fileSource, importAttachmentPath, importFileEntry, resolvePackagePath } from '../attachments.js';
import { entryContent, entryTimes, toHtmlField } from '../content.js';
import { atomLinks, entriesLinkingTo, hasCategory, isType, leapLinks, type LeapEntry } from '../feed.js';
import { downloadUrl, firstFileArtefact, newArtefact, stateOf } from '../run.js';
import type { LeapPlugin, LeapRun, LeapStrategy } from '../types.js';
import { escapeAttribute, escapeText } from '../../html/entities.js';
import { attachFile } from '../../artefact-store.js';

/**
 * Mahara's LeapImportBlog (portfolio-import.md §6.6–§6.8): a selection becomes a journal with its parts as
 * posts (a Blog 100, any other selection 20, e.g. Moodle's forum discussion `Grouping`), or, as the
 * fallback, one post; any other entry becomes a post in the catch-all journal (10).
 */
const CATCH_ALL_DESCRIPTION = 'Entries imported from a Leap2A export that were not able to be imported elsewhere';
/** §6.8: an out-of-line image is shown inline, at most this wide. */
const MAX_INLINE_WIDTH = 500;

interface BlogState {
  catchAll: number | undefined;
  /** The user's only journal before the import, if it had one (step 11 may remove it). */
  defaultJournal: number | undefined;
  importedJournal: boolean;
  /** Post entry → the enclosure it was made from (not attached a second time in step 7). */
  contentLinks: Map<string, string>;
}

const state = (run: LeapRun): BlogState =>
  stateOf(run, 'blog', () => ({ catchAll: undefined, defaultJournal: undefined, importedJournal: false, contentLinks: new Map() }));

export const blogPlugin: LeapPlugin = {
  name: 'blog',
  phase: 'artefacts',
  imports: [
    { format: 'LEAP/selection', priority: 100 },
    { format: 'LEAP/*', priority: 10 },
  ],

  async setup(run) {
    const journals = (await run.ctx.trx('artefacts').where({ owner: run.ctx.user.id, artefacttype: 'blog' }).pluck('id')) as number[];
    state(run).defaultJournal = journals.length === 1 ? journals[0] : undefined;
  },

  strategiesFor(entry, feed) {
    if (!isType(entry, 'selection')) {
      // The entry's enclosures go with it (Mahara's blog lists the hrefs; only entry ids count as claims).
      // [Ours] When such a file entry was already imported on its own (110), the post still comes, without
      // it: the attachment step links the two. Mahara drops the post (§6.6 step 4).
      const enclosures = atomLinks(entry, 'enclosure').map((l) => l.href);
      const post = { id: 'post', format: 'LEAP/*', score: 10 } as const;
      return enclosures.some((href) => feed.byId.has(href)) ? [{ ...post, requires: enclosures }, { ...post, requires: [] }] : [{ ...post, requires: enclosures }];
    }
    const parts = [...leapLinks(entry, 'has_part'), ...entriesLinkingTo(feed, entry.id, 'is_part_of').map((e) => e.id)];
    return [
      { id: 'journal', format: 'LEAP/selection', score: hasCategory(entry, 'selection_type', 'Blog') ? 100 : 20, requires: [...new Set(parts)] },
      { id: 'single-post', format: 'LEAP/selection', score: 10, requires: [] },
    ];
  },

  async importEntry(entry, strategy, run) {
    if (strategy.id !== 'journal') {
      await importPost(run, entry, await catchAllJournal(run));
      return;
    }
    const { ctime, mtime } = entryTimes(entry, run.ctx.now);
    const journal = await newArtefact(
      run,
      entry.id,
      { artefacttype: 'blog', title: entry.title, description: toHtmlField(entryContent(entry), run.feed), ctime, mtime },
      entry.tags,
    );
    state(run).importedJournal = true;
    for (const id of postsOf(entry, strategy, run, true)) await importPost(run, run.feed.byId.get(id)!, journal);
  },

  async linkRelationships(entry, strategy, run) {
    const posts = strategy.id === 'journal' ? postsOf(entry, strategy, run, false) : [entry.id];
    for (const id of posts) await attachLinkedFiles(run, run.feed.byId.get(id)!);
  },

  async cleanup(run) {
    const s = state(run);
    if (s.importedJournal && s.defaultJournal !== undefined) {
      const posts = await run.ctx.trx('artefacts').where({ parent: s.defaultJournal }).first('id');
      if (!posts) {
        await run.ctx.trx('artefacts').where({ id: s.defaultJournal }).delete();
        run.ctx.trace.info(`removed the empty journal ${s.defaultJournal}: a journal was imported`);
      }
    }
    // Mahara now sets the account preference "multipleblogs" when the user has other than one journal;
    // we have no account preferences, so there is nothing to set.
  },
};

/** The posts a journal strategy took: its required entries that exist, has_part order first. */
function postsOf(entry: LeapEntry, strategy: LeapStrategy, run: LeapRun, warn: boolean): string[] {
  const ids: string[] = [];
  for (const id of new Set(strategy.requires)) {
    if (id === entry.id) continue;
    if (run.feed.byId.has(id) && id !== run.feed.personEntryId) ids.push(id);
    else if (warn) run.ctx.trace.warn(`${entry.id} has a part ${id} that is not in the import`);
  }
  return ids;
}

/** §6.7: made on first use, once per import, always a new journal (measured). */
async function catchAllJournal(run: LeapRun): Promise<number> {
  const s = state(run);
  if (s.catchAll === undefined) {
    s.catchAll = await newArtefact(run, null, {
      artefacttype: 'blog',
      title: `Data imported from ${run.feed.title}`,
      description: CATCH_ALL_DESCRIPTION,
    });
    s.importedJournal = true;
  }
  return s.catchAll;
}

/**
 * One post (§6.7): title, body (plain text escaped, html/xhtml sanitised), dates, tags, a draft when
 * `readiness# Unready`. An entry that is itself a file becomes a post linking to that file (§6.8).
 */
async function importPost(run: LeapRun, entry: LeapEntry, journal: number): Promise<void> {
  let body = toHtmlField(entryContent(entry), run.feed);
  const source = fileSource(entry, run.feed, true);
  const { ctime, mtime } = entryTimes(entry, run.ctx.now);
  const post = await newArtefact(
    run,
    entry.id,
    { artefacttype: 'blogpost', title: entry.title, parent: journal, published: !hasCategory(entry, 'readiness', 'Unready'), ctime, mtime },
    entry.tags,
  );
  if (source) {
    state(run).contentLinks.set(entry.id, source.href);
    const file = await importFileEntry(run, entry, null, true);
    if (file !== undefined) {
      body = (await fileMarkup(run, file, entry)) + body;
      await attachFile(run.ctx, post, file);
    }
  }
  await run.ctx.trx('artefacts').where({ id: post }).update({ description: body });
}

async function fileMarkup(run: LeapRun, file: number, entry: LeapEntry): Promise<string> {
  const url = escapeAttribute(downloadUrl(run, file));
  const row = (await run.ctx.trx('artefact_files').where({ artefact: file }).first('mime', 'width', 'height')) as
    | { mime: string; width: number | null; height: number | null }
    | undefined;
  if (row?.width && row.height && row.mime.startsWith('image/')) {
    const scale = Math.min(1, MAX_INLINE_WIDTH / row.width);
    const size = `width="${Math.round(row.width * scale)}" height="${Math.round(row.height * scale)}"`;
    return `<img src="${url}" alt="${escapeAttribute(entry.title)}" ${size}>`;
  }
  return `<a href="${url}">${escapeText(entry.title)}</a>`;
}

/**
 * §6.6 step 7 / §6.8: each `enclosure` or `related` link of a post attaches the first file its target
 * entry became, or a file at that path in the package (a new top-level "<title> Attachment").
 */
async function attachLinkedFiles(run: LeapRun, entry: LeapEntry): Promise<void> {
  const post = run.artefactsByEntry.get(entry.id)?.[0];
  if (post === undefined) return;
  const contentHref = state(run).contentLinks.get(entry.id);
  for (const link of [...atomLinks(entry, 'enclosure'), ...atomLinks(entry, 'related')]) {
    if (link.href === contentHref) continue;
    const file = await firstFileArtefact(run, link.href);
    if (file !== undefined) {
      await attachFile(run.ctx, post, file);
      continue;
    }
    if (run.feed.byId.has(link.href)) continue; // an entry that made no file: nothing to attach
    const resolved = await resolvePackagePath(run, link.href);
    if (resolved.kind === 'unsafe') run.ctx.trace.warn(`${entry.id}: ${link.href} is outside the package; not attached`);
    if (resolved.kind !== 'found') continue;
    const created = await importAttachmentPath(run, entry, resolved);
    if (created !== undefined) await attachFile(run.ctx, post, created);
  }
}
