import type Router from '@koa/router';
import type Koa from 'koa';
import { listRemoteIdentities } from '../../identity/remote-users.js';
import type { User } from '../../identity/users.js';
import { loadStudentRecords } from '../../schooltool/student-records.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { href, postButton, renderPage, viewerOf } from '../page.js';
import { originOf, peerNames, userOfPath, userPath, USERS_PATH } from './user-common.js';
import { formatBytes } from '../../format-bytes.js';
import { timeOf } from '../format.js';
import { renderSchooltoolRecords } from './user-schooltool.js';

export function mountUserDetail(router: Router, services: Services, guards: Guards): void {
  router.get(`${USERS_PATH}:id`, guards.admin, async (ctx) => renderUserPage(ctx, services, await userOfPath(ctx, services)));
}

/**
 * A user's page: profile, peer identities, login and admin state with the buttons that change them, and
 * what SchoolTool sent about them. `error` is a refused action, shown above everything with its status.
 */
export async function renderUserPage(ctx: Koa.Context, services: Services, user: User, refusal?: { error: string; status: number }): Promise<void> {
  const { config, db } = services;
  const [identities, records, peers] = await Promise.all([listRemoteIdentities(db, user.id), loadStudentRecords(db, user.id), peerNames(services)]);
  const viewer = viewerOf(ctx).user;
  const fullName = `${user.firstName} ${user.lastName}`.trim();
  const percent = user.quota > 0 ? Math.round((user.quotaUsed / user.quota) * 100) : 0;
  const action = (name: string) => href(config, userPath(user, name));

  const identityTable =
    identities.length === 0
      ? html`<p>No remote identities: no peer has signed this user on or sent them to us.</p>`
      : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Peer</th><th scope="col">Peer address (wwwroot)</th><th scope="col">Remote username</th><th scope="col">Idnumber</th></tr></thead>
<tbody>${identities.map(
          (i) => html`<tr>
<td>${i.peerName}${i.peerDeleted ? ' (deleted peer)' : ''}</td>
<td>${i.wwwroot}</td>
<td>${i.remoteUsername}</td>
<td>${i.idnumber ?? html`<span class="muted">none</span>`}</td>
</tr>`,
        )}</tbody>
</table></div>`;

  renderPage(ctx, config, {
    title: `User ${user.username}`,
    status: refusal?.status,
    body: html`${refusal ? html`<p class="error" role="alert">${refusal.error}</p>` : ''}
<h2>Profile</h2>
<dl>
<dt>Username</dt><dd>${user.username}</dd>
<dt>Full name</dt><dd>${fullName === '' ? html`<span class="muted">not given</span>` : fullName}</dd>
<dt>Email</dt><dd>${user.email === '' ? html`<span class="muted">not given</span>` : user.email}</dd>
<dt>Student id</dt><dd>${user.studentId ?? html`<span class="muted">none</span>`}</dd>
<dt>Origin</dt><dd>${originOf(user, peers)}</dd>
<dt>Created</dt><dd>${timeOf(user.createdAt)}</dd>
<dt>File quota</dt><dd>${formatBytes(user.quotaUsed)} of ${formatBytes(user.quota)} used (${percent}%)</dd>
<dt>Login</dt><dd>${user.loginAllowed ? 'Allowed' : 'Suspended'}</dd>
<dt>Administrator</dt><dd>${user.isAdmin ? 'Yes' : 'No'}</dd>
<dt>Local password</dt><dd>${user.hasPassword ? 'Yes' : 'No: only single sign-on from a peer logs this user in'}</dd>
</dl>

<h2>Actions</h2>
<ul>
<li>${
      user.loginAllowed
        ? html`${postButton(ctx, action('suspend'), 'Suspend login', { danger: true })} <span class="muted">also logs the user out everywhere</span>`
        : postButton(ctx, action('allow-login'), 'Allow login')
    }</li>
<li>${
      user.isAdmin
        ? html`${postButton(ctx, action('remove-admin'), 'Remove admin', { danger: true })}${user.id === viewer.id ? html` <span class="muted">(this is you: another administrator must do it)</span>` : ''}`
        : postButton(ctx, action('make-admin'), 'Make admin')
    }</li>
<li>${postButton(ctx, action('password-link'), 'Create password link')} <span class="muted">a single-use link, valid for 24 hours, that sets ${user.hasPassword ? 'a new' : 'a'} local password</span></li>
</ul>

<h2>Remote identities</h2>
${identityTable}

<h2>SchoolTool</h2>
${renderSchooltoolRecords(config, records)}

<p><a href="${href(config, USERS_PATH)}">Back to users</a></p>`,
  });
}
