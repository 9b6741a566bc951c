import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { listEvents } from '../../portfolio/events.js';
import { countHistoryByOutcome, findHistoryRecord, listHistory, purgeHistory, type HistoryRecord } from '../../portfolio/history.js';
import { findQueueItem, type Outcome } from '../../portfolio/queue.js';
import type { Services } from '../../services.js';
import { field, type Guards } from '../guards.js';
import { html } from '../html.js';
import { csrfField, flash, href, pageState, redirectTo, renderPage } from '../page.js';
import {
  eventsTable,
  filterForm,
  parseId,
  peerLink,
  peersByWwwroot,
  readListFilter,
  shortText,
  shortToken,
  userLink,
  usernamesOf,
} from './queue-format.js';
import { timeOf } from '../format.js';

const OUTCOMES: readonly Outcome[] = ['complete', 'failed', 'expired', 'cancelled'];
/** The history grows with every transfer; the page shows the latest, filters find older ones. */
const HISTORY_PAGE_ROWS = 200;
const HISTORY_PATH = '/admin/queue/history/';
const PURGE_PATH = '/admin/queue/purge';
/** Ten years: a larger number of days is a typing mistake, not a policy. */
const MAX_PURGE_DAYS = 3650;
const DAY_MS = 86_400_000;

/** Finished transfers (`import_history`), one entry with its event log, and purging old entries. */
export function mountQueueHistory(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get(HISTORY_PATH, guards.admin, (ctx) => renderHistoryList(ctx, services));

  router.get(`${HISTORY_PATH}:id`, guards.admin, async (ctx) => {
    const id = parseId(ctx.params.id, 'finished transfer');
    const entry = await findHistoryRecord(db, id);
    if (!entry) throw new MnetFault(FaultCode.NotFound, `There is no finished transfer ${id}.`);
    await renderHistoryEntry(ctx, services, entry);
  });

  router.get(PURGE_PATH, guards.admin, (ctx) => renderPurgeForm(ctx, services, { scope: 'older', days: '90' }));

  router.post(PURGE_PATH, guards.admin, guards.form, async (ctx) => {
    const form = pageState(ctx).form!;
    const values = { scope: field(form, 'scope'), days: field(form, 'days') };
    let before: Date | undefined;
    if (values.scope === 'older') {
      const days = /^\d{1,5}$/.test(values.days) ? Number(values.days) : NaN;
      if (!(days >= 1 && days <= MAX_PURGE_DAYS)) {
        return renderPurgeForm(ctx, services, values, `Enter a whole number of days from 1 to ${MAX_PURGE_DAYS}.`);
      }
      before = new Date(services.now().getTime() - days * DAY_MS);
    } else if (values.scope !== 'all') {
      return renderPurgeForm(ctx, services, values, 'Choose which finished transfers to purge.');
    }
    const purged = await purgeHistory(db, before);
    services.log.info('purged finished portfolio transfers', { purged, before: before?.toISOString() ?? 'all' });
    flash(ctx, config, `Purged ${purged === 1 ? '1 finished transfer' : `${purged} finished transfers`} and their event logs.`);
    redirectTo(ctx, config, HISTORY_PATH);
  });
}

async function renderHistoryList(ctx: Koa.Context, services: Services): Promise<void> {
  const { config, db } = services;
  const listFilter = await readListFilter(ctx, db, 'outcome', OUTCOMES);
  const { filtered } = listFilter;
  const filter = { host: listFilter.peer || undefined, userId: listFilter.userId };
  const [peers, entries, counts] = listFilter.unknownUser
    ? [await peersByWwwroot(db), [], new Map<Outcome, number>()]
    : await Promise.all([
        peersByWwwroot(db),
        listHistory(db, { ...filter, outcome: listFilter.value }, HISTORY_PAGE_ROWS),
        countHistoryByOutcome(db, filter),
      ]);
  const usernames = await usernamesOf(db, entries.map((e) => e.userId));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);

  const countRows = OUTCOMES.map((o) => html`<tr><th scope="row">${o}</th><td>${counts.get(o) ?? 0}</td></tr>`);
  const row = (e: HistoryRecord) => html`<tr${e.outcome === 'failed' ? html` class="highlight"` : ''}>
<td><a href="${href(config, `${HISTORY_PATH}${e.id}`)}">${e.id}</a></td>
<td>${e.queueId}</td>
<td>${userLink(config, usernames, e.userId)}</td>
<td>${peerLink(config, peers, e.host)}</td>
<td>${e.format ?? '—'}</td>
<td>${e.outcome}</td>
<td>${e.artefacts}</td>
<td>${e.skipped}</td>
<td>${timeOf(e.finishedAt)}</td>
<td>${shortText(e.message)}</td>
</tr>`;
  const table =
    entries.length === 0
      ? html`<p>${filtered ? 'No finished transfers match these filters.' : 'No transfers have finished yet.'}</p>`
      : html`<div class="table-wrap"><table>
<caption>${entries.length === HISTORY_PAGE_ROWS ? `The latest ${HISTORY_PAGE_ROWS} finished transfers` : 'Finished transfers'}${filtered ? ' (filtered)' : ''}</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Queue id</th><th scope="col">User</th><th scope="col">Peer</th><th scope="col">Format</th><th scope="col">Outcome</th><th scope="col">Artefacts</th><th scope="col">Skipped</th><th scope="col">Finished</th><th scope="col">Message</th></tr></thead>
<tbody>${entries.map(row)}</tbody>
</table></div>`;

  renderPage(ctx, config, {
    title: 'Finished transfers',
    body: html`<p>What became of each portfolio transfer. Transfers still waiting or failing are in the
<a href="${href(config, '/admin/queue/')}">import queue</a>.</p>
${filterForm(config, HISTORY_PATH, 'Filter finished transfers', listFilter, peers, { name: 'outcome', label: 'Outcome', values: OUTCOMES, anyLabel: 'All outcomes' })}
<div class="table-wrap"><table>
<caption>${total === 1 ? '1 finished transfer' : `${total} finished transfers`} by outcome${listFilter.peer !== '' || listFilter.username !== '' ? ' (for this peer and user filter)' : ''}</caption>
<thead><tr><th scope="col">Outcome</th><th scope="col">Transfers</th></tr></thead>
<tbody>${countRows}</tbody>
</table></div>
${table}
<p><a href="${href(config, PURGE_PATH)}">Purge finished transfers</a></p>`,
  });
}

async function renderHistoryEntry(ctx: Koa.Context, services: Services, entry: HistoryRecord): Promise<void> {
  const { config, db } = services;
  const [peers, usernames, events, stillQueued] = await Promise.all([
    peersByWwwroot(db),
    usernamesOf(db, [entry.userId]),
    listEvents(db, entry.queueId),
    findQueueItem(db, entry.queueId),
  ]);
  renderPage(ctx, config, {
    title: `Finished transfer ${entry.id}`,
    body: html`<p><a href="${href(config, HISTORY_PATH)}">Back to finished transfers</a></p>
${stillQueued ? html`<p>This transfer is still in the queue (it was retried): <a href="${href(config, `/admin/queue/${entry.queueId}`)}">transfer ${entry.queueId}</a>.</p>` : ''}
<dl>
<dt>Outcome</dt><dd>${entry.outcome}</dd>
<dt>Queue id</dt><dd>${entry.queueId}</dd>
<dt>User</dt><dd>${userLink(config, usernames, entry.userId)}</dd>
<dt>Peer</dt><dd>${peerLink(config, peers, entry.host)}${entry.host && peers.has(entry.host) ? html` (${entry.host})` : ''}</dd>
<dt>Token</dt><dd>${shortToken(entry.token)}</dd>
<dt>Format</dt><dd>${entry.format ?? '—'}</dd>
<dt>Transport</dt><dd>${entry.transport}</dd>
<dt>Artefacts</dt><dd>${entry.artefacts}</dd>
<dt>Skipped</dt><dd>${entry.skipped}</dd>
<dt>Created</dt><dd>${timeOf(entry.createdAt)}</dd>
<dt>Finished</dt><dd>${timeOf(entry.finishedAt)}</dd>
${entry.querystring ? html`<dt>Answer to Moodle</dt><dd><code>${entry.querystring}</code></dd>` : ''}
</dl>
<h2>Message</h2>
${entry.message ? html`<pre>${entry.message}</pre>` : html`<p>None.</p>`}
${eventsTable(events)}`,
  });
}

function renderPurgeForm(ctx: Koa.Context, services: Services, values: { scope: string; days: string }, error?: string): void {
  const { config } = services;
  const checked = (scope: string) => (values.scope === scope ? html` checked` : '');
  renderPage(ctx, config, {
    title: 'Purge finished transfers',
    status: error ? 400 : 200,
    body: html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<p>Really delete finished transfers from the history? Their event logs are deleted with them, and cannot be recovered.
Transfers still in the queue and the imported work are not touched.</p>
<form method="post" action="${href(config, PURGE_PATH)}" class="stacked">
${csrfField(ctx)}
<fieldset><legend>Which finished transfers</legend>
<div><input type="radio" id="scope-older" name="scope" value="older"${checked('older')}> <label for="scope-older">Those finished more than a number of days ago</label>
<label for="days">Number of days</label><input type="number" id="days" name="days" min="1" max="${MAX_PURGE_DAYS}" value="${values.days}"></div>
<div><input type="radio" id="scope-all" name="scope" value="all"${checked('all')}> <label for="scope-all">All finished transfers</label></div>
</fieldset>
<div><button type="submit" class="danger">Purge</button> <a href="${href(config, HISTORY_PATH)}">Back to finished transfers</a></div>
</form>`,
  });
}
