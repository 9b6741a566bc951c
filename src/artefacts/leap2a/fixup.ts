import { parseHtmlFragment, serialiseTopLevelAsXml, walkElements } from '../html/tree.js';
import { prefixesFor } from './namespaces.js';
import { downloadUrl } from './run.js';
import type { LeapRun } from './types.js';

/**
 * The reference fix-up (portfolio-import.md §6.6 step 8, §6.8): links inside imported text that name a file
 * entry (`<a href="portfolio:storedfile345" rel="enclosure">`, `<img src=… rel="enclosure">`, or
 * rel="<leap prefix>:has_part") are pointed at the file's download URL and lose their `rel`.
 *
 * [Ours] Only the artefacts this import created are scanned (Mahara scans all of the user's).
 * [Mahara, measured, kept] A touched field is re-serialised the way Mahara's DOM round trip does it
 * (html/tree.ts); an untouched field stays byte for byte as stored.
 *
 * Order: bodies were sanitised when they were stored (step 5), so the fix-up works on sanitised text; the
 * sanitiser keeps `rel` and hrefs that are entry ids of this feed for it. The fix-up only rewrites URLs to
 * our own download path and drops attributes, so its output needs no second cleaning.
 */
export async function fixUpReferences(run: LeapRun): Promise<void> {
  const rels = new Set(['enclosure', ...prefixesFor('leap', run.feed.bindings).map((p) => `${p}:has_part`)]);
  const ids = [...new Set(run.created)];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await run.ctx.trx('artefacts').whereIn('id', ids.slice(i, i + 500)).select('id', 'title', 'description')) as Array<{
      id: number;
      title: string;
      description: string;
    }>;
    for (const row of rows) {
      const changes: Record<string, string> = {};
      for (const field of ['title', 'description'] as const) {
        const fixed = fixField(run, row[field], rels);
        if (fixed !== undefined) changes[field] = fixed;
      }
      if (Object.keys(changes).length > 0) await run.ctx.trx('artefacts').where({ id: row.id }).update(changes);
    }
  }
}

/** The field rewritten, or undefined when it has no `<a>`/`<img>` with such a `rel` (left as it is). */
export function fixField(run: LeapRun, text: string, rels: ReadonlySet<string>): string | undefined {
  if (!/rel\s*=/i.test(text) || !/<(?:a|img)\b/i.test(text)) return undefined;
  const nodes = parseHtmlFragment(text);
  let touched = false;
  for (const el of walkElements(nodes)) {
    if (el.name !== 'a' && el.name !== 'img') continue;
    const rel = el.attrs.find(([n]) => n === 'rel')?.[1];
    if (rel === undefined || !rels.has(rel.trim())) continue;
    touched = true;
    const urlAttr = el.name === 'a' ? 'href' : 'src';
    const target = el.attrs.find(([n]) => n === urlAttr);
    const artefacts = target ? run.artefactsByEntry.get(target[1].trim()) : undefined;
    if (target && artefacts?.length === 1) target[1] = downloadUrl(run, artefacts[0]!);
    el.attrs = el.attrs.filter(([n]) => n !== 'rel');
  }
  return touched ? serialiseTopLevelAsXml(nodes) : undefined;
}
