import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../errors.js';
import { findPasswordLinkUser, loginWithPassword, setPasswordWithLink } from '../identity/local-login.js';
import { PASSWORD_MIN_LENGTH } from '../identity/passwords.js';
import { createSession, endSession, type Session } from '../identity/sessions.js';
import { safeWantsurl } from '../identity/sso-land.js';
import type { Services } from '../services.js';
import { SESSION_COOKIE, clearCookie, setCookie } from './cookies.js';
import { field, type Guards } from './guards.js';
import { html } from './html.js';
import { csrfField, flash, href, pageState, redirectTo, renderPage } from './page.js';

export const LOGIN_PATH = '/login';
/** A password link: `npm run cli -- admin create` and `user password-link` print it. */
export const PASSWORD_LINK_PATH = '/password/:token';

/** Local login, logout, and the single-use links that set a password. */
export function mountLoginRoutes(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;
  const secure = config.wwwroot.startsWith('https://');

  function loginForm(ctx: Koa.Context, wantsurl: string, username = '', error?: string, status = 200): void {
    renderPage(ctx, config, {
      title: 'Log in',
      status,
      body: html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="${href(config, LOGIN_PATH)}" class="stacked">
${csrfField(ctx)}<input type="hidden" name="wantsurl" value="${wantsurl}">
<div><label for="username">Username</label><input type="text" id="username" name="username" value="${username}" autocomplete="username" required autofocus></div>
<div><label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required></div>
<div><button type="submit">Log in</button></div>
</form>
<p class="muted">Students coming from Moodle are logged in automatically when they follow a link from there.</p>`,
    });
  }

  async function startSession(ctx: Koa.Context, userId: number): Promise<Session> {
    // A new token at every login: a session cookie planted before login is worth nothing after it.
    const previous = ctx.cookies.get(SESSION_COOKIE);
    if (previous) await endSession(db, previous);
    const { token, session } = await createSession(db, {
      userId,
      userAgent: ctx.get('User-Agent'),
      now: services.now(),
      lifetimeSeconds: config.sessionLifetimeSeconds,
    });
    setCookie(ctx, SESSION_COOKIE, token, { secure });
    return session;
  }

  router.get(LOGIN_PATH, guards.anonymous, (ctx) => {
    const wantsurl = typeof ctx.query.wantsurl === 'string' ? ctx.query.wantsurl : '';
    loginForm(ctx, wantsurl);
  });

  router.post(LOGIN_PATH, guards.anonymous, guards.anonymousForm, async (ctx) => {
    const form = pageState(ctx).form!;
    const username = field(form, 'username');
    const wantsurl = field(form, 'wantsurl');
    try {
      const user = await loginWithPassword(db, { username, password: form.get('password') ?? '', now: services.now() });
      await startSession(ctx, user.id);
      services.log.info('local login', { username: user.username });
      ctx.status = 303;
      ctx.redirect(config.wwwroot + safeWantsurl(wantsurl));
    } catch (err) {
      if (!(err instanceof MnetFault) || err.code !== FaultCode.LoginFailed) throw err;
      services.log.info('local login refused', { username, reason: err.message });
      loginForm(ctx, wantsurl, username, err.message, 401);
    }
  });

  router.post('/logout', guards.user, guards.form, async (ctx) => {
    await endSession(db, pageState(ctx).viewer!.sessionToken);
    clearCookie(ctx, SESSION_COOKIE, secure);
    flash(ctx, config, 'You have logged out.');
    redirectTo(ctx, config, LOGIN_PATH);
  });

  function passwordForm(ctx: Koa.Context, username: string, error?: string, status = 200): void {
    renderPage(ctx, config, {
      title: 'Set your password',
      status,
      body: html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<p>Choose a password for <strong>${username}</strong>. This link works once.</p>
<form method="post" class="stacked">
${csrfField(ctx)}
<div><label for="password">New password (at least ${PASSWORD_MIN_LENGTH} characters)</label><input type="password" id="password" name="password" autocomplete="new-password" minlength="${PASSWORD_MIN_LENGTH}" required></div>
<div><label for="confirm">Repeat it</label><input type="password" id="confirm" name="confirm" autocomplete="new-password" required></div>
<div><button type="submit">Set password and log in</button></div>
</form>`,
    });
  }

  function linkGone(): MnetFault {
    return new MnetFault(FaultCode.NotFound, 'This link has expired or has been used already. Ask an administrator for a new one.');
  }

  router.get(PASSWORD_LINK_PATH, guards.anonymous, async (ctx) => {
    const user = await findPasswordLinkUser(db, ctx.params.token!, services.now());
    if (!user) throw linkGone();
    passwordForm(ctx, user.username);
  });

  router.post(PASSWORD_LINK_PATH, guards.anonymous, guards.anonymousForm, async (ctx) => {
    const form = pageState(ctx).form!;
    const token = ctx.params.token!;
    const user = await findPasswordLinkUser(db, token, services.now());
    if (!user) throw linkGone();
    const password = form.get('password') ?? '';
    if (password !== (form.get('confirm') ?? '')) return passwordForm(ctx, user.username, 'The two passwords differ.', 400);
    try {
      const updated = await setPasswordWithLink(db, { token, password, now: services.now() });
      await startSession(ctx, updated.id);
      services.log.info('password set through a link', { username: updated.username });
      flash(ctx, config, 'Your password is set.');
      redirectTo(ctx, config, updated.isAdmin ? '/admin/' : '/');
    } catch (err) {
      if (!(err instanceof MnetFault) || err.code !== FaultCode.InvalidInput) throw err;
      passwordForm(ctx, user.username, err.message, 400);
    }
  });
}
