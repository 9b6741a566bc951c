import type Router from '@koa/router';
import type Koa from 'koa';
import { countUsers } from '../../identity/users.js';
import { listPeers } from '../../mnet/peers.js';
import { countHistoryByOutcome } from '../../portfolio/history.js';
import { countQueueByState, type Outcome, type QueueState } from '../../portfolio/queue.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { href, renderPage } from '../page.js';
import { timeOf } from '../format.js';

/** Warn about our key this long before it expires: peers must fetch the new one (fault 7025) in time. */
const KEY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

const QUEUE_STATES: readonly QueueState[] = ['intended', 'queued', 'processing', 'failed'];
const OUTCOMES: readonly Outcome[] = ['complete', 'failed', 'expired', 'cancelled'];

/** Every admin section, in the order an admin sets the site up. */
const SECTIONS: ReadonlyArray<[path: string, label: string, what: string]> = [
  ['/admin/peers/', 'Peers', 'register, check and delete the Moodle, Mahara and SchoolTool sites we talk to'],
  ['/admin/keys/', 'Our key', 'our certificate, its expiry and rotation'],
  ['/admin/queue/', 'Import queue', 'portfolio transfers waiting, running or failed'],
  ['/admin/queue/history/', 'Finished transfers', 'what became of every transfer'],
  ['/admin/plugins/', 'Plugin priorities', 'which artefact plugin imports which format'],
  ['/admin/users/', 'Users', 'search users, suspend logins, admins, password links, SchoolTool data'],
];

export function mountAdminHome(router: Router, services: Services, guards: Guards): void {
  router.get('/admin/', guards.admin, (ctx) => renderDashboard(ctx, services));
}

async function renderDashboard(ctx: Koa.Context, services: Services): Promise<void> {
  const { config, db } = services;
  const now = services.now();
  const [peers, queue, finished, users, key] = await Promise.all([
    listPeers(db),
    countQueueByState(db),
    countHistoryByOutcome(db, { finishedAfter: new Date(now.getTime() - DAY_MS) }),
    countUsers(db),
    services.keys.current(),
  ]);
  const daysLeft = Math.floor((key.expires.getTime() - now.getTime()) / DAY_MS);
  const link = (path: string, label: string) => html`<a href="${href(config, path)}">${label}</a>`;

  const queueRows = QUEUE_STATES.map((state) => {
    const failing = state === 'failed' && (queue.get('failed') ?? 0) > 0;
    return html`<tr${failing ? html` class="highlight"` : ''}><th scope="row">${state}</th><td>${queue.get(state) ?? 0}${
      failing ? html` (needs attention: ${link('/admin/queue/?state=failed', 'see the failed transfers')})` : ''
    }</td></tr>`;
  });
  const finishedRows = OUTCOMES.map((outcome) => html`<tr><th scope="row">${outcome}</th><td>${finished.get(outcome) ?? 0}</td></tr>`);

  renderPage(ctx, config, {
    title: 'Administration',
    body: html`${
      daysLeft < KEY_WARNING_DAYS
        ? html`<p class="error" role="alert">Our key expires on ${timeOf(key.expires)} (in ${daysLeft === 1 ? '1 day' : `${daysLeft} days`}). Rotate it soon so that peers learn the new one in time: ${link('/admin/keys/', 'review our key')}.</p>`
        : ''
    }
<h2>At a glance</h2>
<ul>
<li>${link('/admin/peers/', peers.length === 1 ? '1 active peer' : `${peers.length} active peers`)}</li>
<li>${link('/admin/users/', users === 1 ? '1 user' : `${users} users`)}</li>
<li>Our key expires on ${timeOf(key.expires)}.</li>
</ul>

<div class="table-wrap"><table>
<caption>Import queue by state</caption>
<thead><tr><th scope="col">State</th><th scope="col">Transfers</th></tr></thead>
<tbody>${queueRows}</tbody>
</table></div>

<div class="table-wrap"><table>
<caption>Transfers finished in the last 24 hours</caption>
<thead><tr><th scope="col">Outcome</th><th scope="col">Transfers</th></tr></thead>
<tbody>${finishedRows}</tbody>
</table></div>

<h2>Sections</h2>
<ul>
${SECTIONS.map(([path, label, what]) => html`<li>${link(path, label)}: ${what}</li>`)}
</ul>`,
  });
}
