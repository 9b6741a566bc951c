import { entryContent, entryTimes, toHtmlField } from '../content.js';
import { hasCategory, isType, type LeapEntry } from '../feed.js';
import { isInRole } from '../namespaces.js';
import { attrOf, childElements, textOf } from '../parse.js';
import { newArtefact, recordArtefact } from '../run.js';
import type { FormatId } from '../../plugin.js';
import type { LeapOffer, LeapPlugin, LeapRun } from '../types.js';

/**
 * Mahara's LeapImportResume (portfolio-import.md §6.6 resume rows, §6.7), simplified: the setup hook's
 * "Contact information" artefact (§6.5, measured: every LEAP import leaves the user exactly one), the
 * single-valued fields (goals, cover letter, interests, skills) as one artefact per type with the HTML in
 * the description, and the composites (certification, employment, education, book, membership) as one
 * artefact per type whose `extra.items` lists the entries, in feed order. Organisations and roles that
 * Mahara folds into employment/education/book rows through `supported_by`/`related` links are not read.
 */
const CONTACT_INFORMATION = 'Contact information';
const FIELDS = new Set(['personalgoal', 'academicgoal', 'careergoal', 'coverletter', 'interest', 'personalskill', 'academicskill', 'workskill']);

export const resumePlugin: LeapPlugin = {
  name: 'resume',
  phase: 'artefacts',
  imports: ['entry', 'ability', 'achievement', 'activity', 'affiliation', 'publication', 'resource', 'selection'].map((c) => ({
    format: `LEAP/${c}` as FormatId,
    priority: 100,
  })),

  async setup(run) {
    const has = await run.ctx.trx('artefacts').where({ owner: run.ctx.user.id, artefacttype: 'contactinformation' }).first('id');
    if (!has) await newArtefact(run, null, { artefacttype: 'contactinformation', title: CONTACT_INFORMATION });
  },

  strategiesFor(entry) {
    const offer = (id: string, type: string, score = 100): LeapOffer[] => [{ id, format: `LEAP/${type}` as FormatId, score, requires: [] }];
    const typed = (...types: string[]) => types.find((t) => isType(entry, t));
    const resumeHint = entry.maharaPlugin === 'resume';
    const t1 = typed('entry', 'ability');
    if (t1 && resumeHint && FIELDS.has(entry.maharaType ?? '')) return offer('field', t1);
    if (isType(entry, 'achievement')) return offer('certification', 'achievement', entry.maharaType === 'certification' ? 100 : 50);
    const t2 = typed('activity', 'entry');
    if (t2 && (hasCategory(entry, 'life_area', 'Work') || hasCategory(entry, 'life_area', 'Placement'))) return offer('employmenthistory', t2);
    const t3 = typed('publication', 'resource', 'entry');
    if (t3 && hasCategory(entry, 'resource_type', 'Printed')) return offer('book', t3);
    if (t2 && hasCategory(entry, 'life_area', 'Education')) return offer('educationhistory', t2);
    if (isType(entry, 'affiliation')) return offer('membership', 'affiliation');
    if (isType(entry, 'activity') && entry.maharaType === 'membership') return offer('membership', 'activity');
    if (isType(entry, 'selection') && hasCategory(entry, 'selection_type', 'Grouping') && resumeHint) return offer('grouping', 'selection');
    return [];
  },

  async importEntry(entry, strategy, run) {
    if (strategy.id === 'grouping') return; // the composites inside are entries of their own
    if (strategy.id === 'field') {
      await saveField(run, entry, entry.maharaType!);
      return;
    }
    await addCompositeItem(run, entry, strategy.id);
  },
};

async function saveField(run: LeapRun, entry: LeapEntry, type: string): Promise<void> {
  const { ctime, mtime } = entryTimes(entry, run.ctx.now);
  await newArtefact(run, entry.id, { artefacttype: type, title: entry.title || type, description: toHtmlField(entryContent(entry), run.feed), ctime, mtime });
}

/** Appends the entry to the user's composite of that type, creating it on first use. */
async function addCompositeItem(run: LeapRun, entry: LeapEntry, type: string): Promise<void> {
  const dates = childElements(entry.node).filter((c) => c.local === 'date' && isInRole(c.uri, 'leap'));
  const dateAt = (point: string): string | null => {
    const d = dates.find((n) => attrOf(n, 'point', (u) => isInRole(u, 'leap')) === point);
    return d ? textOf(d).trim() : null;
  };
  const content = entryContent(entry);
  const item = {
    entry: entry.id,
    title: entry.title,
    description: content.kind === 'html' ? content.value.replace(/<[^>]*>/g, '').trim() : content.value.trim(),
    startdate: dateAt('start'),
    enddate: dateAt('end'),
  };
  const existing = (await run.ctx.trx('artefacts').where({ owner: run.ctx.user.id, artefacttype: type }).orderBy('id').first('id', 'extra')) as
    | { id: number; extra: unknown }
    | undefined;
  if (!existing) {
    await newArtefact(run, entry.id, { artefacttype: type, title: type, extra: { items: [item] } });
    return;
  }
  const extra = (typeof existing.extra === 'string' ? JSON.parse(existing.extra) : existing.extra ?? {}) as { items?: unknown[] };
  await run.ctx.trx('artefacts')
    .where({ id: existing.id })
    .update({ extra: JSON.stringify({ ...extra, items: [...(extra.items ?? []), item] }), mtime: run.ctx.now });
  recordArtefact(run, entry.id, existing.id);
}
