import type Router from '@koa/router';
import type Koa from 'koa';
import { searchUsers } from '../../identity/users.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html, type SafeHtml } from '../html.js';
import { href, renderPage } from '../page.js';
import { mountUserActions } from './user-actions.js';
import { originOf, peerNames, userPath, USERS_PATH } from './user-common.js';
import { mountUserDetail } from './user-detail.js';

/** Users per page of the list. */
const PAGE_SIZE = 50;

/** The admin's user list (search, paging), a user's page, and the actions on it. */
export function mountAdminUsers(router: Router, services: Services, guards: Guards): void {
  router.get(USERS_PATH, guards.admin, (ctx) => renderUserList(ctx, services));
  mountUserDetail(router, services, guards);
  mountUserActions(router, services, guards);
}

/** `?page=` as a page number; anything else is the first page (a hand-edited URL, not an error worth a page). */
function pageNumber(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value)) return 1;
  return Math.max(1, Number(value));
}

async function renderUserList(ctx: Koa.Context, services: Services): Promise<void> {
  const { config, db } = services;
  const text = typeof ctx.query.q === 'string' ? ctx.query.q.trim() : '';
  const page = pageNumber(ctx.query.page);
  const [{ users, total }, peers] = await Promise.all([searchUsers(db, { text, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE }), peerNames(services)]);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const pageLink = (n: number) => href(config, USERS_PATH, { q: text, page: n === 1 ? undefined : n });

  const rows = users.map(
    (u) => html`<tr>
<td><a href="${href(config, userPath(u))}">${u.username}</a></td>
<td>${`${u.firstName} ${u.lastName}`.trim()}</td>
<td>${u.email}</td>
<td>${u.studentId ?? ''}</td>
<td>${originOf(u, peers)}</td>
<td>${u.loginAllowed ? 'Allowed' : 'Suspended'}</td>
<td>${u.isAdmin ? 'Yes' : 'No'}</td>
</tr>`,
  );
  const table: SafeHtml =
    users.length === 0 && total > 0
      ? html`<p>There is no page ${page}. <a href="${pageLink(1)}">Go to the first page</a>.</p>`
      : users.length === 0
      ? html`<p>${text === '' ? 'There are no users yet: they are created when they first sign on from a peer, or with npm run cli -- admin create.' : 'No user matches this search.'}</p>`
      : html`<div class="table-wrap"><table>
<caption>${text === '' ? 'All users' : html`Users matching “${text}”`}, page ${page} of ${pages}</caption>
<thead><tr><th scope="col">Username</th><th scope="col">Full name</th><th scope="col">Email</th><th scope="col">Student id</th><th scope="col">Origin</th><th scope="col">Login</th><th scope="col">Admin</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;

  renderPage(ctx, config, {
    title: 'Users',
    body: html`<form method="get" action="${href(config, USERS_PATH)}" class="filters" role="search">
<div><label for="q">Search by username, name, email or student id</label><input type="text" id="q" name="q" value="${text}"></div>
<div><button type="submit">Search</button>${text === '' ? '' : html` <a href="${href(config, USERS_PATH)}">Show all users</a>`}</div>
</form>
<p>${total === 1 ? '1 user' : `${total} users`}${text === '' ? '' : ' found'}.</p>
${table}
${
  pages > 1
    ? html`<nav aria-label="Pages of users"><ul>
${page > 1 ? html`<li><a href="${pageLink(page - 1)}" rel="prev">Previous</a></li>` : ''}
<li>Page ${page} of ${pages}</li>
${page < pages ? html`<li><a href="${pageLink(page + 1)}" rel="next">Next</a></li>` : ''}
</ul></nav>`
    : ''
}
<p><a href="${href(config, '/admin/')}">Back to administration</a></p>`,
  });
}
