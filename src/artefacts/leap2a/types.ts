import type { ArtefactPlugin, FormatId, ImportContext } from '../plugin.js';
import type { LeapEntry, LeapFeed } from './feed.js';

export interface LeapImportOptions {
  /** §6.5: profile fields from the feed are not written. Always true for peer imports. */
  skipPersonData: boolean;
  /** Shifts a strategy's score when an admin overrode a plugin's priority (§4.4). */
  adjustScore(plugin: string, format: FormatId, score: number): number;
  /** The registered LEAP importers, in registration order (ties go to the first, §6.6 step 3). */
  plugins: readonly LeapPlugin[];
  /**
   * The extraction root: no attachment path may resolve outside it (§7). Defaults to the XML file's
   * directory, which is also what relative paths resolve against (§6.1).
   */
  rootDir?: string;
}

/** What a plugin offers for one entry (§6.6 step 2). */
export interface LeapOffer {
  readonly id: string;
  /** The plugin's declaration it offers under (`LEAP/resource`, `LEAP/*`); admins' overrides apply per declaration. */
  readonly format: FormatId;
  readonly score: number;
  /** Entry ids (or, as Mahara's blog writes them, enclosure hrefs) this strategy takes with it. */
  readonly requires: readonly string[];
}

export interface LeapStrategy extends LeapOffer {
  readonly plugin: string;
  readonly entryId: string;
}

/** The state of one LEAP import, shared by the phases and the plugins. */
export interface LeapRun {
  readonly ctx: ImportContext;
  readonly feed: LeapFeed;
  readonly options: LeapImportOptions;
  /** Where relative paths resolve (§6.1). */
  readonly xmlDir: string;
  readonly rootDir: string;
  /** Entry id → the artefacts it became, first one first (§6.6 step 5). */
  readonly artefactsByEntry: Map<string, number[]>;
  /** Entry id → the page it became (§6.6 step 9). */
  readonly viewsByEntry: Map<string, number>;
  /** Every artefact this import created, in creation order: the fix-up scans only these (§9). */
  readonly created: number[];
  /** Per-plugin state for this run (catch-all journal, default journal, …), keyed by plugin name. */
  readonly pluginState: Map<string, unknown>;
}

/**
 * A LEAP2A artefact plugin (style.md "Plugin interface"; Mahara's LeapImport<Plugin> classes). It declares
 * the `LEAP/<rdf:type>` components it looks at (`LEAP/*` for any entry) with default priorities, offers
 * strategies for entries, and imports the entries it won. The hooks run in the phases of §6.6.
 */
export interface LeapPlugin extends ArtefactPlugin {
  /** `core` strategies (pages, collections) are imported after the reference fix-up (§6.6 step 9). */
  readonly phase: 'artefacts' | 'core';
  /** Step 1. */
  setup?(run: LeapRun): Promise<void>;
  /** Step 2: pure. */
  strategiesFor(entry: LeapEntry, feed: LeapFeed): readonly LeapOffer[];
  /** Step 5 (or 9 for core): records what it made in run.artefactsByEntry / run.viewsByEntry. */
  importEntry(entry: LeapEntry, strategy: LeapStrategy, run: LeapRun): Promise<void>;
  /** Step 7: attachments, comment targets, task → plan. */
  linkRelationships?(entry: LeapEntry, strategy: LeapStrategy, run: LeapRun): Promise<void>;
  /** Step 10: links to pages. */
  linkViews?(entry: LeapEntry, strategy: LeapStrategy, run: LeapRun): Promise<void>;
  /** Step 11. */
  cleanup?(run: LeapRun): Promise<void>;
}
