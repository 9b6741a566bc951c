import type Router from '@koa/router';
import type Koa from 'koa';
import { listQueueItems, type QueueItem, type QueueState } from '../../portfolio/queue.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { href, renderPage } from '../page.js';
import { mountQueueDetail } from './queue-detail.js';
import {
  filterForm,
  peerLink,
  peersByWwwroot,
  readListFilter,
  shortText,
  timeOrDash,
  userLink,
  usernamesOf,
} from './queue-format.js';
import { mountQueueHistory } from './queue-history.js';
import { progressOf, timeOf } from '../format.js';

const STATES: readonly QueueState[] = ['intended', 'queued', 'processing', 'failed'];

/**
 * The import queue console (what `npm run cli -- queue list|retry|cancel` does, as pages): transfers
 * waiting, running or failed, each with its detail and event log; finished ones under /admin/queue/history/.
 */
export function mountAdminQueue(router: Router, services: Services, guards: Guards): void {
  // The history's fixed paths first: /admin/queue/history/ must not be read as an item id.
  mountQueueHistory(router, services, guards);
  router.get('/admin/queue/', guards.admin, (ctx) => renderQueueList(ctx, services));
  mountQueueDetail(router, services, guards);
}

async function renderQueueList(ctx: Koa.Context, services: Services): Promise<void> {
  const { config, db } = services;
  const filter = await readListFilter(ctx, db, 'state', STATES);
  const { filtered } = filter;
  const peers = await peersByWwwroot(db);
  const items = filter.unknownUser ? [] : await listQueueItems(db, { state: filter.value, host: filter.peer || undefined, userId: filter.userId });
  const usernames = await usernamesOf(db, items.map((i) => i.userId));

  const row = (item: QueueItem) => html`<tr${item.state === 'failed' ? html` class="highlight"` : ''}>
<td><a href="${href(config, `/admin/queue/${item.id}`)}">${item.id}</a></td>
<td>${userLink(config, usernames, item.userId)}</td>
<td>${peerLink(config, peers, item.host)}</td>
<td>${item.format ?? '—'}</td>
<td>${item.state}${item.state === 'processing' ? html`<br>${progressOf(item)}` : ''}</td>
<td>${item.attempts}</td>
<td>${timeOf(item.createdAt)}</td>
<td>${item.state === 'queued' && item.runAfter === null ? 'when the queue next runs' : timeOrDash(item.runAfter)}</td>
<td>${shortText(item.lastError)}</td>
</tr>`;
  const table =
    items.length === 0
      ? html`<p>${filtered ? 'No transfers match these filters.' : 'The queue is empty: no transfers are waiting, running or failed.'}</p>`
      : html`<div class="table-wrap"><table>
<caption>${items.length === 1 ? '1 transfer' : `${items.length} transfers`} in the queue${filtered ? ' (filtered)' : ''}</caption>
<thead><tr><th scope="col">Id</th><th scope="col">User</th><th scope="col">Peer</th><th scope="col">Format</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Created</th><th scope="col">Next run</th><th scope="col">Last error</th></tr></thead>
<tbody>${items.map(row)}</tbody>
</table></div>`;

  renderPage(ctx, config, {
    title: 'Import queue',
    body: html`<p>Portfolio transfers from Moodle that are announced, waiting, running or failed. Finished ones are under
<a href="${href(config, '/admin/queue/history/')}">Finished transfers</a>.</p>
${filterForm(config, '/admin/queue/', 'Filter the queue', filter, peers, { name: 'state', label: 'State', values: STATES, anyLabel: 'All states' })}
${table}`,
  });
}
