import type Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { renderPage, viewerOf } from '../page.js';
import { IMPORTS_PATH } from './paths.js';
import { finishedTable, loadTransfers, waitingTable } from './transfers.js';

/** How many finished transfers the imports page lists, newest first. */
const FINISHED_SHOWN = 100;

/** The student's transfers from Moodle: those still in the queue, then what became of the finished ones. */
export function mountImports(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get(IMPORTS_PATH, guards.user, async (ctx) => {
    const transfers = await loadTransfers(db, viewerOf(ctx).user.id, FINISHED_SHOWN + 1);
    const shown = { ...transfers, finished: transfers.finished.slice(0, FINISHED_SHOWN) };
    renderPage(ctx, config, {
      title: 'Imports',
      body: html`<p>Work you export from Moodle to this portfolio arrives here. Moodle either sends it at once or queues it; queued transfers are imported every few minutes.</p>
<h2>In progress</h2>
${transfers.waiting.length === 0 ? html`<p>Nothing is waiting to be imported.</p>` : waitingTable(transfers, services.now())}
<h2>Finished</h2>
${transfers.finished.length === 0 ? html`<p>No transfers have finished yet.</p>` : finishedTable(config, shown, 'Finished transfers, newest first')}
${transfers.finished.length > FINISHED_SHOWN ? html`<p class="muted">Only the ${FINISHED_SHOWN} most recent are shown.</p>` : ''}`,
    });
  });
}
