import { contentType, entryContent, entryTimes, wallClockDate } from '../content.js';
import { isType, leapLinks, type LeapEntry, type LeapFeed } from '../feed.js';
import { isInRole } from '../namespaces.js';
import { attrOf, childElements, textOf } from '../parse.js';
import { newArtefact } from '../run.js';
import type { LeapPlugin } from '../types.js';

/**
 * Mahara's LeapImportPlans (portfolio-import.md §6.6, §6.7): a `plan` entry with plain-text content is a
 * plan, or a task when it is part of another plan entry. A task's completion date is its
 * `leap2:date leap2:point="target"`, and it is completed when it has `leap2:status leap2:stage="completed"`.
 * Plan and task descriptions are plain text in Mahara, so the content is stored as text.
 */
export const plansPlugin: LeapPlugin = {
  name: 'plans',
  phase: 'artefacts',
  imports: [{ format: 'LEAP/plan', priority: 90 }],

  strategiesFor(entry) {
    if (!['', 'text'].includes(contentType(entry))) return [];
    return [{ id: 'plan', format: 'LEAP/plan', score: 90, requires: [] }];
  },

  async importEntry(entry, _strategy, run) {
    const { ctime, mtime } = entryTimes(entry, run.ctx.now);
    const description = entryContent(entry).value.trim();
    if (!parentPlan(entry, run.feed)) {
      await newArtefact(run, entry.id, { artefacttype: 'plan', title: entry.title, description, ctime, mtime }, entry.tags);
      return;
    }
    const completion = leapElements(entry, 'date').find((d) => attrOf(d, 'point', (u) => isInRole(u, 'leap')) === 'target');
    const completed = leapElements(entry, 'status').some((s) => attrOf(s, 'stage', (u) => isInRole(u, 'leap')) === 'completed');
    const date = completion ? wallClockDate(textOf(completion)) : undefined;
    const extra = { completiondate: date ? date.toISOString().slice(0, 10) : null, completed };
    await newArtefact(run, entry.id, { artefacttype: 'task', title: entry.title, description, extra, ctime, mtime }, entry.tags);
  },

  /** Step 7: a task goes under its plan once both exist (a task may come before its plan in the feed). */
  async linkRelationships(entry, _strategy, run) {
    const plan = parentPlan(entry, run.feed);
    const task = run.artefactsByEntry.get(entry.id)?.[0];
    if (!plan || task === undefined) return;
    const planArtefact = run.artefactsByEntry.get(plan.id)?.[0];
    if (planArtefact === undefined) run.ctx.trace.warn(`task ${entry.id} is part of ${plan.id}, which was not imported as a plan`);
    else await run.ctx.trx('artefacts').where({ id: task }).update({ parent: planArtefact });
  },
};

function parentPlan(entry: LeapEntry, feed: LeapFeed): LeapEntry | undefined {
  return leapLinks(entry, 'is_part_of')
    .map((id) => feed.byId.get(id))
    .find((e): e is LeapEntry => e !== undefined && e.id !== entry.id && isType(e, 'plan'));
}

const leapElements = (entry: LeapEntry, local: string) => childElements(entry.node).filter((c) => c.local === local && isInRole(c.uri, 'leap'));
