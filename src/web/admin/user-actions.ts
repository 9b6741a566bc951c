import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { createPasswordLink, PASSWORD_LINK_LIFETIME_MS, setAdmin } from '../../identity/local-login.js';
import { endSessionsOfUser } from '../../identity/sessions.js';
import { setLoginAllowed, withdrawAdmin, type User } from '../../identity/users.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { PASSWORD_LINK_PATH } from '../login-routes.js';
import { flash, href, redirectTo, renderPage, viewerOf } from '../page.js';
import { userOfPath, userPath, USERS_PATH } from './user-common.js';
import { renderUserPage } from './user-detail.js';

/**
 * The buttons of a user's page, the web counterparts of `npm run cli -- user allow-login|deny-login|
 * password-link` and `admin create`. Each is a CSRF-checked POST; a refusal re-renders the user's page
 * with the reason (400), anything else flashes what happened and redirects back to it.
 */
export function mountUserActions(router: Router, services: Services, guards: Guards): void {
  const { config, db, log } = services;

  /** Runs `act` on the user of the path; an InvalidInput refusal is shown on the user's page. */
  function userAction(name: string, act: (ctx: Koa.Context, user: User, viewer: User) => Promise<string | void>): void {
    router.post(`${USERS_PATH}:id/${name}`, guards.admin, guards.form, async (ctx) => {
      const user = await userOfPath(ctx, services);
      const viewer = viewerOf(ctx).user;
      let message: string | void;
      try {
        message = await act(ctx, user, viewer);
      } catch (err) {
        if (!(err instanceof MnetFault) || err.code !== FaultCode.InvalidInput) throw err;
        return renderUserPage(ctx, services, user, { error: err.message, status: 400 });
      }
      if (message === undefined) return; // the action rendered its own page
      log.info('admin changed a user', { admin: viewer.username, user: user.username, action: name });
      flash(ctx, config, message);
      redirectTo(ctx, config, userPath(user));
    });
  }

  userAction('suspend', async (_ctx, user, viewer) => {
    if (user.id === viewer.id) throw new MnetFault(FaultCode.InvalidInput, 'You cannot suspend your own login: you would be locked out at once.');
    await setLoginAllowed(db, user.id, false, services.now());
    // As kill_child does (§8.5): a suspended user is logged out everywhere now, not when their sessions expire.
    const ended = await endSessionsOfUser(db, user.id);
    return `${user.username} can no longer log in${ended > 0 ? ` and was logged out (${ended === 1 ? '1 session' : `${ended} sessions`} ended)` : ''}.`;
  });

  userAction('allow-login', async (_ctx, user) => {
    await setLoginAllowed(db, user.id, true, services.now());
    return `${user.username} can log in again.`;
  });

  userAction('make-admin', async (_ctx, user) => {
    await setAdmin(db, user.id, true, services.now());
    return `${user.username} is now an administrator.`;
  });

  userAction('remove-admin', async (_ctx, user, viewer) => {
    await withdrawAdmin(db, user.id, viewer.id, services.now());
    return `${user.username} is no longer an administrator.`;
  });

  // The link is shown on the page that answers the post, once; it is not flashed, since a cookie would
  // carry it around, and it is never stored: only its hash is.
  userAction('password-link', async (ctx, user) => {
    const token = await createPasswordLink(db, user.id, services.now());
    const link = `${config.wwwroot}${PASSWORD_LINK_PATH.replace(':token', token)}`;
    log.info('admin created a password link', { admin: viewerOf(ctx).user.username, user: user.username });
    renderPage(ctx, config, {
      title: `Password link for ${user.username}`,
      body: html`<p>Give this link to ${user.username}. It sets ${user.hasPassword ? 'a new' : 'their'} local password, works once, and expires in ${PASSWORD_LINK_LIFETIME_MS / 3_600_000} hours:</p>
<pre>${link}</pre>
<p class="muted">It is shown only now. Do not open it yourself: it would log this browser in as ${user.username}.</p>
<p><a href="${href(config, userPath(user))}">Back to ${user.username}</a></p>`,
    });
  });
}
