import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import type { ArtefactPlugin, FilePackagePlugin, FormatId } from './plugin.js';

/**
 * The artefact plugins, registered explicitly at start-up (style.md), and the priorities they import with:
 * each plugin declares `format/component` pairs with a default priority; admins may override one in
 * `import_plugin_priorities`. Overrides are read per import, so a change applies to the next one.
 */
export class PluginRegistry {
  private readonly plugins: ArtefactPlugin[] = [];

  register(plugin: ArtefactPlugin): void {
    if (this.plugins.some((p) => p.name === plugin.name)) throw new Error(`artefact plugin ${plugin.name} registered twice`);
    this.plugins.push(plugin);
  }

  list(): readonly ArtefactPlugin[] {
    return this.plugins;
  }

  /** Reads the admins' overrides once for one import. */
  async priorities(db: Knex): Promise<Priorities> {
    const rows = (await db('import_plugin_priorities').select('plugin', 'format_id', 'priority')) as Array<{ plugin: string; format_id: string; priority: number }>;
    return new Priorities(new Map(rows.map((r) => [`${r.plugin} ${r.format_id}`, r.priority])));
  }
}

export class Priorities {
  constructor(private readonly overrides: ReadonlyMap<string, number>) {}

  /** The plugin's priority for `format`, or undefined when it does not import that format. */
  of(plugin: ArtefactPlugin, format: FormatId): number | undefined {
    const declared = plugin.imports.find((d) => d.format === format);
    if (!declared) return undefined;
    return this.overrides.get(`${plugin.name} ${format}`) ?? declared.priority;
  }

  /** The admin's override for this plugin and format, if one is set (the plugin priorities page). */
  override(plugin: ArtefactPlugin, format: FormatId): number | undefined {
    return this.overrides.get(`${plugin.name} ${format}`);
  }

  /**
   * A LEAP strategy's score moved by the admin's change to the plugin's priority for that entry type, so
   * the plugin's own score differences (a file 110, a folder 100) survive an override.
   */
  adjustScore(plugin: ArtefactPlugin, format: FormatId, score: number): number {
    const declared = plugin.imports.find((d) => d.format === format);
    const override = this.overrides.get(`${plugin.name} ${format}`);
    return declared && override !== undefined ? score + override - declared.priority : score;
  }

  /** §4.4: the single highest-priority `file/file` handler gets a file package; ties go to the first registered. */
  filePackagePlugin(registry: PluginRegistry): FilePackagePlugin {
    let best: { plugin: FilePackagePlugin; priority: number } | undefined;
    for (const plugin of registry.list()) {
      const priority = this.of(plugin, 'file/file');
      if (priority === undefined || !isFilePackagePlugin(plugin)) continue;
      if (!best || priority > best.priority) best = { plugin, priority };
    }
    if (!best) throw new MnetFault(FaultCode.Internal, 'No artefact plugin imports file/file');
    return best.plugin;
  }
}

function isFilePackagePlugin(plugin: ArtefactPlugin): plugin is FilePackagePlugin {
  return typeof (plugin as Partial<FilePackagePlugin>).importFiles === 'function';
}

/** An admin's override (CLI now, admin pages later); `null` goes back to the declared priority. */
export async function setPluginPriority(db: Knex, registry: PluginRegistry, plugin: string, format: string, priority: number | null): Promise<void> {
  const found = registry.list().find((p) => p.name === plugin);
  if (!found) throw new MnetFault(FaultCode.InvalidInput, `Unknown artefact plugin "${plugin}"`);
  if (!found.imports.some((d) => d.format === format)) {
    throw new MnetFault(FaultCode.InvalidInput, `${plugin} does not import ${format}; it imports ${found.imports.map((d) => d.format).join(', ')}`);
  }
  if (priority === null) await db('import_plugin_priorities').where({ plugin, format_id: format }).delete();
  else await db('import_plugin_priorities').insert({ plugin, format_id: format, priority }).onConflict(['plugin', 'format_id']).merge();
}
