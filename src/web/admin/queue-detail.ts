import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { findLatestHistoryOf } from '../../portfolio/history.js';
import { formatBytes } from '../../format-bytes.js';
import { listEvents } from '../../portfolio/events.js';
import type { ImportData } from '../../portfolio/import-data.js';
import { findQueueItem, type QueueItem } from '../../portfolio/queue.js';
import { cancelTransfer, retryTransfer } from '../../portfolio/run-queue.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html, type SafeHtml } from '../html.js';
import { csrfField, flash, href, postButton, redirectTo, renderPage, viewerOf } from '../page.js';
import { eventsTable, parseId, peerLink, peersByWwwroot, shortToken, timeOrDash, userLink, usernamesOf } from './queue-format.js';
import { progressOf, timeOf } from '../format.js';

const itemPath = (id: number, action?: string) => `/admin/queue/${id}${action ? `/${action}` : ''}`;

function notInQueue(id: number): MnetFault {
  return new MnetFault(FaultCode.NotFound, `There is no transfer ${id} in the import queue.`);
}

/** One transfer in the queue: everything about it, its event log, and "Retry now" and "Cancel transfer". */
export function mountQueueDetail(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  async function itemOf(ctx: Koa.Context): Promise<QueueItem> {
    const id = parseId(ctx.params.id, 'transfer');
    const item = await findQueueItem(db, id);
    if (!item) throw notInQueue(id);
    return item;
  }

  router.get('/admin/queue/:id', guards.admin, async (ctx) => {
    const id = parseId(ctx.params.id, 'transfer');
    const item = await findQueueItem(db, id);
    if (item) return renderItem(ctx, services, item);
    // Finished meanwhile (a retry that has just imported it): its history holds the rest of the story.
    const finished = await findLatestHistoryOf(db, id);
    if (!finished) throw notInQueue(id);
    ctx.status = 303;
    ctx.redirect(href(config, `/admin/queue/history/${finished.id}`));
  });

  router.post('/admin/queue/:id/retry', guards.admin, guards.form, async (ctx) => {
    const item = await itemOf(ctx);
    if (!(await retryTransfer(services.imports, item.id, `admin ${viewerOf(ctx).user.username}`))) {
      flash(ctx, config, `Transfer ${item.id} is ${item.state}: only queued or failed transfers can be retried.`);
      return redirectTo(ctx, config, itemPath(item.id));
    }
    services.queueRuns.start(`retry of transfer ${item.id} from the admin pages`);
    flash(ctx, config, `Retry started: transfer ${item.id} is due now and a queue run has begun.`);
    redirectTo(ctx, config, itemPath(item.id));
  });

  router.get('/admin/queue/:id/cancel', guards.admin, async (ctx) => {
    const item = await itemOf(ctx);
    const back = html`<a href="${href(config, itemPath(item.id))}">No, keep it</a>`;
    renderPage(ctx, config, {
      title: `Cancel transfer ${item.id}?`,
      body:
        item.state === 'processing'
          ? html`<p>This transfer is being imported right now and cannot be cancelled. <a href="${href(config, itemPath(item.id))}">Back to the transfer</a></p>`
          : html`<p>Really cancel this ${item.format ?? ''} transfer (state: ${item.state})? It is removed from the queue with its fetched
package and recorded as cancelled; nothing of it is imported. The student has to export it from Moodle again.</p>
<form method="post" action="${href(config, itemPath(item.id, 'cancel'))}" class="inline">${csrfField(ctx)}<button type="submit" class="danger">Yes, cancel transfer</button></form> ${back}`,
    });
  });

  router.post('/admin/queue/:id/cancel', guards.admin, guards.form, async (ctx) => {
    const item = await itemOf(ctx);
    if (!(await cancelTransfer(services.imports, item.id, `admin ${viewerOf(ctx).user.username}`))) {
      flash(ctx, config, `Transfer ${item.id} is being imported right now and cannot be cancelled.`);
      return redirectTo(ctx, config, itemPath(item.id));
    }
    flash(ctx, config, `Transfer ${item.id} cancelled.`);
    redirectTo(ctx, config, '/admin/queue/');
  });
}

/**
 * Runs the queue now, in the background (the admin's page does not wait for a download): the same run as
 * the cron's, so a transfer claimed by the cron meanwhile is skipped (SKIP LOCKED). Its failures are
 * recorded on the rows; anything else is logged.
 */
async function renderItem(ctx: Koa.Context, services: Services, item: QueueItem): Promise<void> {
  const { config, db } = services;
  const [peers, usernames, events] = await Promise.all([peersByWwwroot(db), usernamesOf(db, [item.userId]), listEvents(db, item.id)]);
  const actions: SafeHtml[] = [];
  if (item.state === 'queued' || item.state === 'failed') actions.push(postButton(ctx, href(config, itemPath(item.id, 'retry')), 'Retry now'));
  if (item.state !== 'processing') actions.push(html`<a href="${href(config, itemPath(item.id, 'cancel'))}">Cancel transfer</a>`);

  renderPage(ctx, config, {
    title: `Transfer ${item.id}`,
    body: html`<p><a href="${href(config, '/admin/queue/')}">Back to the import queue</a></p>
<dl>
<dt>User</dt><dd>${userLink(config, usernames, item.userId)}</dd>
<dt>Peer</dt><dd>${peerLink(config, peers, item.host)}${item.host && peers.has(item.host) ? html` (${item.host})` : ''}</dd>
<dt>Token</dt><dd>${shortToken(item.token)}</dd>
<dt>Transport</dt><dd>${item.transport === 'http' ? `HTTP from ${item.location ?? '?'}` : item.transport === 'mnet' ? 'MNet (fetch_file)' : 'local'}</dd>
<dt>Format</dt><dd>${item.format ?? 'not sent yet'}</dd>
<dt>State</dt><dd>${item.state}${item.mustQueue ? ' (the peer was told to queue it)' : ''}</dd>
<dt>Attempts</dt><dd>${item.attempts}</dd>
<dt>Created</dt><dd>${timeOf(item.createdAt)}</dd>
<dt>Last attempt</dt><dd>${timeOrDash(item.lastAttempt)}</dd>
<dt>Next run</dt><dd>${item.state === 'queued' && item.runAfter === null ? 'when the queue next runs' : timeOrDash(item.runAfter)}</dd>
<dt>Expires</dt><dd>${timeOf(item.expiresAt)}</dd>
<dt>Worker</dt><dd>${item.lockedBy ? html`${item.lockedBy}, last heard of ${timeOrDash(item.lockedAt)}` : 'none'}</dd>
${item.state === 'processing' ? html`<dt>Progress</dt><dd>${progressOf(item)}</dd>` : ''}
<dt>Fetched package kept</dt><dd>${item.zipPath ? 'yes (a retry does not fetch it again)' : 'no'}</dd>
</dl>
<h2>Last error</h2>
${item.lastError ? html`<pre>${item.lastError}</pre>` : html`<p>None.</p>`}
${importDataSection(item.importData)}
${actions.length > 0 ? html`<h2>Actions</h2><p>${actions.map((a) => html`${a} `)}</p>` : ''}
${eventsTable(events)}`,
  });
}

/** What content_ready announced: the package's files (keyed by sha1), the zip and the total. */
function importDataSection(data: ImportData | null): SafeHtml {
  if (!data) return html`<h2>Import data</h2><p>The peer has not sent the package details yet (no content_ready).</p>`;
  const files = Object.values(data.filesmanifest);
  const rows = files.map((f) => html`<tr><td>${f.filename}</td><td>${formatBytes(f.size)}</td><td><code>${f.sha1}</code></td></tr>`);
  return html`<h2 id="importdata">Import data</h2>
<dl>
<dt>Zip size</dt><dd>${formatBytes(data.zipfilesize)} (${data.zipfilesize} bytes)</dd>
<dt>Zip SHA-1</dt><dd><code>${data.zipfilesha1}</code></dd>
<dt>Total size</dt><dd>${formatBytes(data.totalsize)} (${data.totalsize} bytes)</dd>
${data.location ? html`<dt>Location</dt><dd>${data.location}</dd>` : ''}
</dl>
<div class="table-wrap"><table>
<caption>Files manifest (${files.length === 1 ? '1 file' : `${files.length} files`})</caption>
<thead><tr><th scope="col">Filename</th><th scope="col">Size</th><th scope="col">SHA-1</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>
<details><summary>Import data as sent (JSON)</summary><pre>${JSON.stringify(data, null, 2)}</pre></details>`;
}
