import { FaultCode, MnetFault } from '../../errors.js';
import type { FormatId, ImportTrace } from '../plugin.js';
import type { LeapEntry, LeapFeed } from './feed.js';
import type { LeapOffer, LeapPlugin, LeapStrategy } from './types.js';

/**
 * Strategies and the load mapping (portfolio-import.md §6.6 steps 2–4). Every ordering is a stable sort
 * with document order as the tie-breaker, so the same feed always imports the same way (§10 item 45);
 * Mahara's comparator returns a boolean and leaves ties to chance.
 */
export type ScoreAdjuster = (plugin: string, format: FormatId, score: number) => number;

/** Step 2 and the first half of step 3: each entry's strategies, best first. The person entry is never offered. */
export function collectStrategies(
  feed: LeapFeed,
  plugins: readonly LeapPlugin[],
  adjustScore: ScoreAdjuster,
  trace: ImportTrace,
): Map<string, LeapStrategy[]> {
  const byEntry = new Map<string, LeapStrategy[]>();
  for (const entry of feed.entries) {
    if (entry.id === feed.personEntryId) continue;
    const strategies: LeapStrategy[] = [];
    for (const plugin of plugins) {
      const formats = declarationsFor(plugin, entry);
      if (formats.length === 0) continue;
      for (const offer of plugin.strategiesFor(entry, feed)) {
        checkOffer(plugin, entry, offer, formats);
        strategies.push({ ...offer, plugin: plugin.name, entryId: entry.id, score: adjustScore(plugin.name, offer.format, offer.score) });
      }
    }
    strategies.sort((a, b) => b.score - a.score);
    if (strategies.length === 0) {
      trace.warn(`Could not find any strategies for ${entry.id}`);
      continue;
    }
    trace.verbose(`${entry.id}: ${strategies.map((s) => `${s.plugin}/${s.id} ${s.score}`).join(', ')}`);
    byEntry.set(entry.id, strategies);
  }
  return byEntry;
}

/** §4.4: the plugin's declarations whose component is the entry's rdf:type, or `*`. */
function declarationsFor(plugin: LeapPlugin, entry: LeapEntry): FormatId[] {
  return plugin.imports
    .map((d) => d.format)
    .filter((f) => {
      const [format, component] = f.split('/', 2) as [string, string];
      return format === 'LEAP' && (component === '*' || entry.types.includes(component));
    });
}

/** §6.6 step 2: a malformed strategy is our bug, not the feed's. */
function checkOffer(plugin: LeapPlugin, entry: LeapEntry, offer: LeapOffer, formats: readonly FormatId[]): void {
  const ok =
    typeof offer.id === 'string' && offer.id !== '' && Number.isFinite(offer.score) && Array.isArray(offer.requires) && formats.includes(offer.format);
  if (!ok) throw new MnetFault(FaultCode.Internal, `Plugin ${plugin.name} offered a malformed strategy for ${entry.id}`);
}

/**
 * Steps 3 and 4: entries by their best score, then each unclaimed entry takes its best strategy whose
 * required entries are all still free, and claims them. [Ours] Mahara's pick phase means to do that check
 * but does not, and then drops the entry at import time; falling back to the next strategy loses nothing
 * (for a selection: a single post in the catch-all journal). Returns the load mapping in import order
 * (step 5: by the chosen strategy's score).
 */
export function pickStrategies(feed: LeapFeed, byEntry: ReadonlyMap<string, readonly LeapStrategy[]>, trace: ImportTrace): LeapStrategy[] {
  const order = feed.entries.filter((e) => byEntry.has(e.id));
  const best = (e: LeapEntry): number => byEntry.get(e.id)![0]!.score;
  order.sort((a, b) => best(b) - best(a));
  trace.verbose(`entries by best score: ${order.map((e) => e.id).join(', ')}`);

  const claimed = new Set<string>();
  const picked: LeapStrategy[] = [];
  for (const entry of order) {
    if (claimed.has(entry.id)) continue;
    const choice = byEntry.get(entry.id)!.find((s) => requiredEntries(feed, s).every((id) => !claimed.has(id)));
    if (!choice) {
      trace.warn(`${entry.id} has already been imported as part of a previous entry`);
      continue;
    }
    claimed.add(entry.id);
    for (const id of requiredEntries(feed, choice)) claimed.add(id);
    trace.info(`${entry.id}: ${choice.plugin}/${choice.id} (score ${choice.score})`);
    picked.push(choice);
  }
  return picked.sort((a, b) => b.score - a.score);
}

/** The strategy's required entries that exist (hrefs that are paths name no entry), without the entry itself. */
export function requiredEntries(feed: LeapFeed, strategy: LeapStrategy): string[] {
  return [...new Set(strategy.requires)].filter((id) => id !== strategy.entryId && id !== feed.personEntryId && feed.byId.has(id));
}
