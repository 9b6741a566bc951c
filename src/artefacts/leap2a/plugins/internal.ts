import { entryContent, entryTimes, toHtmlField } from '../content.js';
import { hasCategory, type LeapEntry, type LeapFeed } from '../feed.js';
import { newArtefact, recordArtefact } from '../run.js';
import type { LeapPlugin, LeapRun } from '../types.js';

/**
 * Mahara's LeapImportInternal, entry strategies only (portfolio-import.md §6.6): a `Personalstatement`
 * becomes the profile introduction; an entry with the hint plugin="internal" becomes the profile field its
 * type names. Profile fields are one artefact per user and type, holding the value in the title as Mahara's do.
 *
 * §6.5: the person entry itself is never offered to plugins, and with skipPersonData nothing that the
 * author-data phase would write (names, student id, email, addresses, phone numbers, websites) is written
 * from these entries either: a Moodle export never overwrites the profile. Such entries are still claimed,
 * so they do not turn into journal posts. The introduction and the occupation/industry fields are not
 * person data and are imported.
 */
const PERSON_DATA = new Set([
  'firstname', 'lastname', 'preferredname', 'studentid', 'email', 'officialwebsite', 'personalwebsite', 'blogaddress',
  'address', 'town', 'city', 'country', 'homenumber', 'businessnumber', 'mobilenumber', 'faxnumber', 'socialprofile',
]);
const OTHER_FIELDS = new Set(['introduction', 'occupation', 'industry']);

export const internalPlugin: LeapPlugin = {
  name: 'internal',
  phase: 'artefacts',
  imports: [{ format: 'LEAP/entry', priority: 100 }],

  strategiesFor(entry, feed) {
    if (hasCategory(entry, 'common_item', 'Personalstatement') && !personEntryHasContent(feed)) {
      return [{ id: 'introduction', format: 'LEAP/entry', score: 100, requires: [] }];
    }
    if (entry.maharaPlugin === 'internal') return [{ id: 'profilefield', format: 'LEAP/entry', score: 100, requires: [] }];
    return [];
  },

  async importEntry(entry, strategy, run) {
    const field = strategy.id === 'introduction' ? 'introduction' : entry.maharaType ?? '';
    if (!PERSON_DATA.has(field) && !OTHER_FIELDS.has(field)) {
      run.ctx.trace.warn(`${entry.id}: unknown profile field "${field}"; skipped`);
      return;
    }
    if (PERSON_DATA.has(field) && run.options.skipPersonData) {
      run.ctx.trace.info(`${entry.id}: profile field ${field} is person data; not applied (skippersondata)`);
      return;
    }
    const text = entryContent(entry);
    const value = field === 'introduction' ? toHtmlField(text, run.feed) : text.value.replace(/<[^>]*>/g, '').trim();
    await saveProfileField(run, entry, field, value);
  },
};

function personEntryHasContent(feed: LeapFeed): boolean {
  const person = feed.personEntryId === undefined ? undefined : feed.byId.get(feed.personEntryId);
  if (!person?.contentNode) return false;
  return person.contentNode.children.some((c) => (typeof c === 'string' ? c.trim() !== '' : true));
}

/** One artefact per user and field: updated in place when the user has it, created otherwise. */
async function saveProfileField(run: LeapRun, entry: LeapEntry, field: string, value: string): Promise<void> {
  const { mtime } = entryTimes(entry, run.ctx.now);
  const existing = (await run.ctx.trx('artefacts').where({ owner: run.ctx.user.id, artefacttype: field }).orderBy('id').first('id')) as
    | { id: number }
    | undefined;
  if (existing) {
    await run.ctx.trx('artefacts').where({ id: existing.id }).update({ title: value, mtime });
    recordArtefact(run, entry.id, existing.id);
    return;
  }
  await newArtefact(run, entry.id, { artefacttype: field, title: value, mtime });
}
