import type Router from '@koa/router';
import { countOwnArtefacts } from '../../artefacts/file-queries.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { href, renderPage, viewerOf } from '../page.js';
import { plural } from '../format.js';
import { FILES_PATH, IMPORTS_PATH, JOURNALS_PATH } from './paths.js';
import { finishedTable, loadTransfers, waitingTable } from './transfers.js';

/** The last few finished transfers on the home page; the imports page has them all. */
const RECENT_TRANSFERS = 5;

/** The student's home: a greeting, what their portfolio holds, and the latest transfers from Moodle. */
export function mountHome(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get('/', guards.user, async (ctx) => {
    const { user } = viewerOf(ctx);
    const [counts, transfers] = await Promise.all([countOwnArtefacts(db, user.id), loadTransfers(db, user.id, RECENT_TRANSFERS)]);
    const name = `${user.firstName} ${user.lastName}`.trim() || user.username;
    renderPage(ctx, config, {
      title: `Hello, ${name}`,
      body: html`<h2>Your portfolio</h2>
<ul>
<li><a href="${href(config, FILES_PATH)}">Files</a>: ${plural(counts.files, 'file', 'files')}</li>
<li><a href="${href(config, JOURNALS_PATH)}">Journals</a>: ${plural(counts.posts, 'journal post', 'journal posts')} in ${plural(counts.journals, 'journal', 'journals')}</li>
<li><a href="${href(config, IMPORTS_PATH)}">Imports</a>: every transfer from Moodle and what became of it</li>
</ul>
<h2>Recent transfers from Moodle</h2>
${transfers.waiting.length > 0 ? waitingTable(transfers, services.now()) : ''}
${transfers.finished.length > 0 ? finishedTable(config, transfers, 'Latest finished transfers') : ''}
${transfers.waiting.length + transfers.finished.length === 0 ? html`<p>Nothing has arrived yet. In Moodle, use "Export to portfolio" to send your work here.</p>` : html`<p><a href="${href(config, IMPORTS_PATH)}">All transfers</a></p>`}`,
    });
  });
}
