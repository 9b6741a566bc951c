import { entryContent, entrySummary, entryTimes, toHtmlField } from '../content.js';
import { entriesLinkingTo, hasCategory, isType, orderedParts, type LeapEntry } from '../feed.js';
import { isInRole } from '../namespaces.js';
import { attrOf, childElements, textOf, type XmlNode } from '../parse.js';
import { sanitiseHtml } from '../../html/sanitise.js';
import type { LeapPlugin, LeapRun } from '../types.js';

/**
 * Mahara's core LEAP import (portfolio-import.md §6.6 steps 9–10): a `Webpage` selection becomes a page, a
 * `Website` selection a collection of the pages it has as parts. Runs after the reference fix-up, pages
 * before collections. With Mahara view data (`mahara:view`) each block instance becomes a block (text
 * blocks keep their text, an `artefactid` points at the imported artefact); without it the page gets one
 * text block holding the entry content. Layouts, block configuration other than text, and view access
 * are not imported.
 */
const VIEW_TYPES = new Set(['portfolio', 'profile', 'dashboard', 'grouphomepage']);

export const corePlugin: LeapPlugin = {
  name: 'core',
  phase: 'core',
  imports: [{ format: 'LEAP/selection', priority: 100 }],

  strategiesFor(entry) {
    if (!isType(entry, 'selection')) return [];
    if (hasCategory(entry, 'selection_type', 'Webpage')) return [{ id: 'page', format: 'LEAP/selection', score: 100, requires: [] }];
    if (hasCategory(entry, 'selection_type', 'Website')) return [{ id: 'collection', format: 'LEAP/selection', score: 100, requires: [] }];
    return [];
  },

  async importEntry(entry, strategy, run) {
    if (strategy.id === 'page') await importPage(run, entry);
    else await importCollection(run, entry);
  },
};

async function importPage(run: LeapRun, entry: LeapEntry): Promise<void> {
  const viewData = childElements(entry.node).find((c) => c.local === 'view' && isInRole(c.uri, 'mahara'));
  const declared = viewData ? maharaAttr(viewData, 'type') : undefined;
  const { ctime, mtime } = entryTimes(entry, run.ctx.now);
  const [row] = await run.ctx.trx('views')
    .insert({
      owner: run.ctx.user.id,
      type: declared && VIEW_TYPES.has(declared) ? declared : 'portfolio',
      title: entry.title,
      description: toHtmlField(entrySummary(entry), run.feed),
      ctime,
      mtime,
      import_id: run.ctx.importId,
    })
    .returning('id');
  const view = (row as { id: number }).id;
  run.viewsByEntry.set(entry.id, view);
  const blocks = viewData ? blocksOf(run, viewData) : [{ blocktype: 'text', title: '', content: toHtmlField(entryContent(entry), run.feed), artefact: null }];
  if (blocks.length > 0) await run.ctx.trx('view_blocks').insert(blocks.map((b, i) => ({ view, ...b, displayorder: i })));
}

interface NewBlock {
  blocktype: string;
  title: string;
  content: string | null;
  artefact: number | null;
}

/** The block instances of a `mahara:view`, row by row and column by column. */
function blocksOf(run: LeapRun, view: XmlNode): NewBlock[] {
  const blocks: NewBlock[] = [];
  const visit = (node: XmlNode): void => {
    for (const child of childElements(node)) {
      if (!isInRole(child.uri, 'mahara')) continue;
      if (child.local !== 'blockinstance') {
        visit(child);
        continue;
      }
      const config = new Map(childElements(child).map((c) => [c.local, parseJsonList(textOf(c))]));
      const blocktype = maharaAttr(child, 'blocktype') ?? 'text';
      const text = config.get('text')?.[0];
      const ref = [...(config.get('artefactid') ?? []), ...(config.get('artefactids') ?? [])].find((v) => typeof v === 'string') as string | undefined;
      blocks.push({
        blocktype,
        title: maharaAttr(child, 'blocktitle') ?? '',
        content: typeof text === 'string' ? sanitiseHtml(text) : null,
        artefact: ref === undefined ? null : run.artefactsByEntry.get(ref)?.[0] ?? null,
      });
    }
  };
  visit(view);
  return blocks;
}

/** Mahara writes each block setting as a JSON list (`["<p>…</p>"]`). */
function parseJsonList(text: string): unknown[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : [v];
  } catch {
    return [];
  }
}

const maharaAttr = (node: XmlNode, local: string): string | undefined => attrOf(node, local, (u) => isInRole(u, 'mahara')) ?? attrOf(node, local);

/** §6.6 step 9: its `has_part` pages in display order; a page already in a collection stays there. */
async function importCollection(run: LeapRun, entry: LeapEntry): Promise<void> {
  const { ctime, mtime } = entryTimes(entry, run.ctx.now);
  const [row] = await run.ctx.trx('collections')
    .insert({
      owner: run.ctx.user.id,
      title: entry.title,
      description: entryContent(entry).value.replace(/<[^>]*>/g, '').trim(),
      ctime,
      mtime,
      import_id: run.ctx.importId,
    })
    .returning('id');
  const collection = (row as { id: number }).id;
  const parts = [...new Set([...orderedParts(entry), ...entriesLinkingTo(run.feed, entry.id, 'is_part_of').map((e) => e.id)])];
  let order = 0;
  for (const id of parts) {
    const view = run.viewsByEntry.get(id);
    if (view === undefined) {
      run.ctx.trace.warn(`collection ${entry.id} has a part ${id} that was not imported as a page`);
      continue;
    }
    const inserted = await run.ctx.trx('collection_views').insert({ view, collection, displayorder: order }).onConflict('view').ignore().returning('view');
    if (inserted.length > 0) order++;
    else run.ctx.trace.warn(`page ${id} is already in a collection; not added to ${entry.id}`);
  }
}
