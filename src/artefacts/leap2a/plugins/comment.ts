import { entryContent, entryTimes, toHtmlField } from '../content.js';
import { hasCategory, leapLinks, type LeapEntry } from '../feed.js';
import { dropArtefact, newArtefact, stateOf } from '../run.js';
import type { LeapPlugin, LeapRun } from '../types.js';

/**
 * Mahara's LeapImportComment (portfolio-import.md §6.6, §6.7): an entry with the Mahara hint
 * type="comment" and exactly one `reflects_on` link becomes feedback on what it reflects on: an artefact
 * (linked in step 7) or a page (linked in step 10, once pages exist). A comment whose target was not
 * imported is taken back, as Mahara does not keep comments on nothing.
 */
const AUTHOR_NAME = 'Imported feedback';

/** Comments whose target is a page, waiting for step 10: comment entry → artefact. */
const pendingOnViews = (run: LeapRun): Map<string, number> => stateOf(run, 'comment', () => new Map<string, number>());

export const commentPlugin: LeapPlugin = {
  name: 'comment',
  phase: 'artefacts',
  imports: [{ format: 'LEAP/entry', priority: 100 }],

  strategiesFor(entry) {
    if (entry.maharaType !== 'comment' || leapLinks(entry, 'reflects_on').length !== 1) return [];
    return [{ id: 'comment', format: 'LEAP/entry', score: 100, requires: [] }];
  },

  async importEntry(entry, _strategy, run) {
    const { ctime, mtime } = entryTimes(entry, run.ctx.now);
    await newArtefact(run, entry.id, {
      artefacttype: 'comment',
      title: entry.title,
      description: toHtmlField(entryContent(entry), run.feed),
      authorName: AUTHOR_NAME,
      private: hasCategory(entry, 'audience', 'Private'),
      ctime,
      mtime,
    });
  },

  async linkRelationships(entry, _strategy, run) {
    const comment = run.artefactsByEntry.get(entry.id)?.[0];
    if (comment === undefined) return;
    const target = targetOf(entry);
    const onArtefact = run.artefactsByEntry.get(target)?.[0];
    if (onArtefact !== undefined) {
      await run.ctx.trx('artefacts').where({ id: comment }).update({ on_artefact: onArtefact });
    } else if (run.feed.byId.has(target)) {
      pendingOnViews(run).set(entry.id, comment);
    } else {
      await dropComment(run, entry, comment);
    }
  },

  async linkViews(entry, _strategy, run) {
    const comment = pendingOnViews(run).get(entry.id);
    if (comment === undefined) return;
    const view = run.viewsByEntry.get(targetOf(entry));
    if (view !== undefined) await run.ctx.trx('artefacts').where({ id: comment }).update({ on_view: view });
    else await dropComment(run, entry, comment);
  },
};

const targetOf = (entry: LeapEntry): string => leapLinks(entry, 'reflects_on')[0]!;

async function dropComment(run: LeapRun, entry: LeapEntry, comment: number): Promise<void> {
  run.ctx.trace.warn(`comment ${entry.id} reflects on ${targetOf(entry)}, which was not imported; comment skipped`);
  await dropArtefact(run, comment);
}
