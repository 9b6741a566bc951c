import type Router from '@koa/router';
import { findOwnJournal, listOtherComments, listOwnJournals, listPosts, type Journal } from '../../artefacts/journal-queries.js';
import type { Config } from '../../config.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html, type SafeHtml } from '../html.js';
import { href, renderPage, viewerOf } from '../page.js';
import { plural } from '../format.js';
import { notFound, parseId } from './ids.js';
import { otherCommentsSection, renderPost, storedHtml } from './journal-parts.js';
import { JOURNALS_PATH, journalPath } from './paths.js';

/** The student's journals (Mahara's blogs): imported forum discussions and posts, with their comments. */
export function mountJournals(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get(JOURNALS_PATH, guards.user, async (ctx) => {
    const owner = viewerOf(ctx).user.id;
    const [journals, comments] = await Promise.all([listOwnJournals(db, owner), listOtherComments(db, owner)]);
    renderPage(ctx, config, {
      title: 'Journals',
      body: html`${journals.length === 0 ? html`<p>You have no journals yet. Forum posts and other writing you export from Moodle appear here.</p>` : journalTable(config, journals)}
${otherCommentsSection(config, comments)}`,
    });
  });

  router.get(`${JOURNALS_PATH}:id`, guards.user, async (ctx) => {
    const owner = viewerOf(ctx).user.id;
    const journal = await findOwnJournal(db, owner, parseId(ctx.params.id, 'journal'));
    if (!journal) throw notFound('journal');
    const posts = await listPosts(db, owner, journal.id);
    renderPage(ctx, config, {
      title: journal.title,
      body: html`<p><a href="${href(config, JOURNALS_PATH)}">All journals</a></p>
${journal.description !== '' ? html`<div class="muted">${storedHtml(journal.description)}</div>` : ''}
<p>${postCount(journal)}, newest first.</p>
${posts.map((post) => renderPost(config, post))}`,
    });
  });
}

function postCount(journal: Journal): string {
  return `${plural(journal.posts, 'post', 'posts')}${journal.drafts > 0 ? ` (${plural(journal.drafts, 'draft', 'drafts')})` : ''}`;
}

function journalTable(config: Config, journals: readonly Journal[]): SafeHtml {
  return html`<div class="table-wrap"><table>
<caption>Your journals</caption>
<thead><tr><th scope="col">Journal</th><th scope="col">Posts</th><th scope="col">Description</th></tr></thead>
<tbody>
${journals.map(
  (j) => html`<tr><td><a href="${href(config, journalPath(j.id))}">${j.title === '' ? '(untitled)' : j.title}</a></td><td>${postCount(j)}</td><td>${storedHtml(j.description)}</td></tr>
`,
)}
</tbody>
</table></div>`;
}
