import type Router from '@koa/router';
import type Koa from 'koa';
import type { ArtefactPlugin, FormatId } from '../../artefacts/plugin.js';
import { setPluginPriority } from '../../artefacts/registry.js';
import { FaultCode, MnetFault } from '../../errors.js';
import type { Services } from '../../services.js';
import { field, type Guards } from '../guards.js';
import { html } from '../html.js';
import { csrfField, flash, href, pageState, postButton, redirectTo, renderPage, viewerOf } from '../page.js';

const PLUGINS_PATH = '/admin/plugins/';
/** `import_plugin_priorities.priority` is an `integer` column. */
const MIN_PRIORITY = -2_147_483_648;
const MAX_PRIORITY = 2_147_483_647;

/** What the admin typed into one row's form, shown again with the error when it was refused. */
interface Refused {
  plugin: string;
  format: string;
  typed: string;
  error: string;
}

interface Row {
  plugin: ArtefactPlugin;
  format: FormatId;
  declared: number;
  override: number | undefined;
  effective: number;
}

/**
 * Artefact plugin priorities per format/component pair (portfolio-import.md §4.4): what
 * `npm run cli -- plugin list` and `plugin priority` do, as a page. The highest `file/file` priority takes
 * a file package; for LEAP2A a change moves each of the plugin's strategy scores by the same amount.
 */
export function mountAdminPlugins(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get(PLUGINS_PATH, guards.admin, (ctx) => renderPlugins(ctx, services));

  router.post(`${PLUGINS_PATH}priority`, guards.admin, guards.form, async (ctx) => {
    const form = pageState(ctx).form!;
    const plugin = field(form, 'plugin');
    const format = field(form, 'format');
    const typed = field(form, 'priority');
    const priority = /^-?\d{1,10}$/.test(typed) ? Number(typed) : NaN;
    if (!(priority >= MIN_PRIORITY && priority <= MAX_PRIORITY)) {
      return renderPlugins(ctx, services, { plugin, format, typed, error: `The priority of ${plugin} for ${format} must be a whole number, e.g. 120.` });
    }
    try {
      await setPluginPriority(db, services.plugins, plugin, format, priority);
    } catch (err) {
      // An unknown plugin or a format it does not import: a stale page after an upgrade.
      if (!(err instanceof MnetFault) || err.code !== FaultCode.InvalidInput) throw err;
      return renderPlugins(ctx, services, { plugin, format, typed, error: err.message });
    }
    services.log.info('plugin priority overridden', { plugin, format, priority, by: viewerOf(ctx).user.username });
    flash(ctx, config, `${plugin} now imports ${format} with priority ${priority}.`);
    redirectTo(ctx, config, PLUGINS_PATH);
  });

  router.post(`${PLUGINS_PATH}reset`, guards.admin, guards.form, async (ctx) => {
    const form = pageState(ctx).form!;
    const plugin = field(form, 'plugin');
    const format = field(form, 'format');
    await setPluginPriority(db, services.plugins, plugin, format, null);
    services.log.info('plugin priority reset', { plugin, format, by: viewerOf(ctx).user.username });
    flash(ctx, config, `${plugin} imports ${format} with its declared priority again.`);
    redirectTo(ctx, config, PLUGINS_PATH);
  });
}

/** One row per format and plugin: file packages first, then LEAP2A by name; the highest priority first. */
async function readRows(services: Services): Promise<Row[]> {
  const priorities = await services.plugins.priorities(services.db);
  const plugins = services.plugins.list();
  const formats = [...new Set(plugins.flatMap((p) => p.imports.map((d) => d.format)))].sort(
    (a, b) => Number(b.startsWith('file/')) - Number(a.startsWith('file/')) || a.localeCompare(b),
  );
  return formats.flatMap((format) =>
    plugins
      .flatMap((plugin) => {
        const declared = plugin.imports.find((d) => d.format === format);
        if (!declared) return [];
        return [{ plugin, format, declared: declared.priority, override: priorities.override(plugin, format), effective: priorities.of(plugin, format)! }];
      })
      // Stable: among equals the first registered stays first, as it wins ties.
      .sort((a, b) => b.effective - a.effective),
  );
}

async function renderPlugins(ctx: Koa.Context, services: Services, refused?: Refused): Promise<void> {
  const { config } = services;
  const rows = await readRows(services);
  const body = rows.map((row, i) => {
    const mine = refused && refused.plugin === row.plugin.name && refused.format === row.format;
    const id = `priority-${i}`;
    return html`<tr${mine ? html` class="highlight"` : ''}>
<td>${row.format}</td>
<td>${row.plugin.name}</td>
<td>${row.declared}</td>
<td>${row.override ?? '—'}</td>
<td><strong>${row.effective}</strong></td>
<td><form method="post" action="${href(config, `${PLUGINS_PATH}priority`)}" class="inline">${csrfField(ctx)}
<input type="hidden" name="plugin" value="${row.plugin.name}"><input type="hidden" name="format" value="${row.format}">
<label for="${id}">New priority</label><input type="number" id="${id}" name="priority" step="1" value="${mine ? refused.typed : row.effective}"${mine ? html` aria-invalid="true"` : ''} required>
<button type="submit">Set priority</button></form></td>
<td>${row.override === undefined ? '' : postButton(ctx, href(config, `${PLUGINS_PATH}reset`), 'Reset', { fields: { plugin: row.plugin.name, format: row.format } })}</td>
</tr>`;
  });
  renderPage(ctx, config, {
    title: 'Plugin priorities',
    status: refused ? 400 : 200,
    body: html`${refused ? html`<p class="error" role="alert">${refused.error}</p>` : ''}
<p>Which artefact plugin imports which part of a package. A file package goes to the <code>file/file</code> plugin with the
highest priority. For LEAP2A entries, changing a plugin's priority moves the scores of all its ways of importing that
kind of entry by the same amount, so the highest score still wins. A change applies from the next import.</p>
<div class="table-wrap"><table>
<caption>Plugins by format/component, highest effective priority first</caption>
<thead><tr><th scope="col">Format/component</th><th scope="col">Plugin</th><th scope="col">Declared priority</th><th scope="col">Admin override</th><th scope="col">Effective priority</th><th scope="col">Change</th><th scope="col">Reset</th></tr></thead>
<tbody>${body}</tbody>
</table></div>`,
  });
}
