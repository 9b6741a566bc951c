import type { ArtefactPlugin, ImportContext, ImportOutcome } from '../plugin.js';
import { buildFeed, type LeapEntry } from './feed.js';
import { fixUpReferences } from './fixup.js';
import { readLeapXml } from './parse.js';
import { blogPlugin } from './plugins/blog.js';
import { commentPlugin } from './plugins/comment.js';
import { corePlugin } from './plugins/core.js';
import { filePlugin } from './plugins/file.js';
import { internalPlugin } from './plugins/internal.js';
import { plansPlugin } from './plugins/plans.js';
import { resumePlugin } from './plugins/resume.js';
import { createRun } from './run.js';
import { collectStrategies, pickStrategies } from './strategies.js';
import type { LeapImportOptions, LeapPlugin, LeapRun, LeapStrategy } from './types.js';

export type { LeapImportOptions, LeapPlugin } from './types.js';

/** Whether a registered artefact plugin imports LEAP2A entries. */
export function isLeapPlugin(plugin: ArtefactPlugin): plugin is LeapPlugin {
  return typeof (plugin as Partial<LeapPlugin>).strategiesFor === 'function';
}

/**
 * The LEAP2A importers of the artefact plugins, in Mahara's order (src/artefacts/plugins.ts registers them;
 * the file plugin's is combined there with its `file/file` importer). Not here, so their entries get "Could not find any
 * strategies" and are skipped: annotation, annotation feedback and peer assessment.
 */
export const leapPlugins: readonly LeapPlugin[] = [internalPlugin, filePlugin, blogPlugin, resumePlugin, plansPlugin, commentPlugin, corePlugin];

/**
 * Imports one LEAP2A feed (portfolio-import.md §6) through `ctx.trx`: parse (§6.2–6.4), then the phases of
 * §6.6. Anything thrown fails the import, and the caller rolls the transaction back and discards the blobs
 * (§6.9); skipped entries are warnings on ctx.trace. A LEAP import has no return data (querystring `?`).
 */
export async function importLeapFeed(xmlPath: string, ctx: ImportContext, options: LeapImportOptions): Promise<ImportOutcome> {
  const feed = buildFeed(await readLeapXml(xmlPath), (m) => ctx.trace.warn(m));
  ctx.trace.info(`LEAP2A ${feed.version} feed "${feed.title}" with ${feed.entries.length} entries`);
  const run = createRun(xmlPath, ctx, feed, options);
  const { plugins } = options;
  const pluginOf = (s: LeapStrategy): LeapPlugin => plugins.find((p) => p.name === s.plugin)!;

  for (const plugin of plugins) await plugin.setup?.(run); // 1
  const picked = pickStrategies(feed, collectStrategies(feed, plugins, options.adjustScore, ctx.trace), ctx.trace); // 2–4
  const artefactPicks = picked.filter((s) => pluginOf(s).phase === 'artefacts');
  // Pages first, so collections find them (step 9).
  const corePicks = picked.filter((s) => pluginOf(s).phase === 'core').sort((a, b) => Number(a.id === 'collection') - Number(b.id === 'collection'));

  await importPicks(run, artefactPicks, pluginOf); // 5
  // 6, author data: skipped with skipPersonData (always over MNet, §6.5); otherwise not implemented yet.
  if (!options.skipPersonData) ctx.trace.info('author data (profile fields from persondata) is not applied by this importer');
  await eachPick(run, artefactPicks, pluginOf, (p, e, s) => p.linkRelationships?.(e, s, run)); // 7
  await fixUpReferences(run); // 8
  await importPicks(run, corePicks, pluginOf); // 9
  await eachPick(run, artefactPicks, pluginOf, (p, e, s) => p.linkViews?.(e, s, run)); // 10
  for (const plugin of plugins) await plugin.cleanup?.(run); // 11

  return { artefactIds: [...run.created], returnData: [] };
}

async function importPicks(run: LeapRun, picks: readonly LeapStrategy[], pluginOf: (s: LeapStrategy) => LeapPlugin): Promise<void> {
  await eachPick(run, picks, pluginOf, (plugin, entry, strategy) => {
    run.ctx.trace.verbose(`importing ${entry.id} with ${strategy.plugin}/${strategy.id}`);
    return plugin.importEntry(entry, strategy, run);
  });
}

async function eachPick(
  run: LeapRun,
  picks: readonly LeapStrategy[],
  pluginOf: (s: LeapStrategy) => LeapPlugin,
  fn: (plugin: LeapPlugin, entry: LeapEntry, strategy: LeapStrategy) => Promise<void> | undefined,
): Promise<void> {
  for (const strategy of picks) await fn(pluginOf(strategy), run.feed.byId.get(strategy.entryId)!, strategy);
}
