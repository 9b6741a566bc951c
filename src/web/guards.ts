import crypto from 'node:crypto';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../errors.js';
import { findSession } from '../identity/sessions.js';
import { findUserById } from '../identity/users.js';
import type { Services } from '../services.js';
import { FORM_COOKIE, SESSION_COOKIE, setCookie } from './cookies.js';
import { href, pageState } from './page.js';
import { readBody } from './read-body.js';

/** Forms carry a few fields; nothing a page posts comes near this. */
const MAX_FORM_BYTES = 64 * 1024;

/**
 * The middleware in front of every page: who is looking (user, admin), and for posts the parsed form
 * with its CSRF token checked. Routes name the guards they need, e.g.
 * `router.post('/admin/peers', guards.admin, guards.form, handler)`.
 */
export interface Guards {
  /** A logged-in user whose logins are allowed; anyone else is sent to the login page. */
  readonly user: Koa.Middleware;
  /** A logged-in admin; other users get 403. */
  readonly admin: Koa.Middleware;
  /** A form post of the logged-in viewer: same origin, the session's CSRF token; ctx.state.form holds it. */
  readonly form: Koa.Middleware;
  /** Pages before login (login, password link): a form token in a cookie, echoed by the form (double submit). */
  readonly anonymous: Koa.Middleware;
  /** A form post from an anonymous page. */
  readonly anonymousForm: Koa.Middleware;
}

export function createGuards(services: Services): Guards {
  const { config, db } = services;
  const secure = config.wwwroot.startsWith('https://');
  const ourOrigin = new URL(config.wwwroot).origin;

  async function loadViewer(ctx: Koa.Context): Promise<void> {
    const state = pageState(ctx);
    state.htmlErrors = true;
    const token = ctx.cookies.get(SESSION_COOKIE);
    if (!token) return;
    const session = await findSession(db, token, services.now());
    if (!session) return;
    const user = await findUserById(db, session.userId);
    // A suspended user's sessions stop working at once, not when they expire.
    if (!user || !user.loginAllowed) return;
    state.viewer = { user, session, sessionToken: token };
    state.csrfToken = session.csrfToken ?? undefined;
  }

  function refuseAnonymous(ctx: Koa.Context): void {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      ctx.status = 303;
      ctx.redirect(href(config, '/login', { wantsurl: ctx.originalUrl }));
      return;
    }
    throw new MnetFault(FaultCode.Forbidden, 'Your session has ended. Log in again and repeat what you were doing.');
  }

  async function readForm(ctx: Koa.Context): Promise<URLSearchParams> {
    pageState(ctx).htmlErrors = true;
    if (ctx.method !== 'POST') throw new MnetFault(FaultCode.Forbidden, 'Forms are sent with POST.');
    // A cross-site form post carries its own Origin; browsers send one with every POST.
    const origin = ctx.get('Origin');
    if (origin && origin !== ourOrigin) throw new MnetFault(FaultCode.Forbidden, 'This form was sent from another site.');
    if (!ctx.is('application/x-www-form-urlencoded')) throw new MnetFault(FaultCode.InvalidInput, 'This address accepts only form posts.');
    const body = await readBody(ctx.req, MAX_FORM_BYTES);
    return new URLSearchParams(body.toString('utf8'));
  }

  function checkToken(sent: string | null, expected: string | undefined): void {
    const ok =
      sent !== null &&
      expected !== undefined &&
      sent.length === expected.length &&
      crypto.timingSafeEqual(Buffer.from(sent), Buffer.from(expected));
    if (!ok) throw new MnetFault(FaultCode.Forbidden, 'This form has expired or did not come from this site. Go back, reload the page and try again.');
  }

  return {
    user: async (ctx, next) => {
      await loadViewer(ctx);
      if (!pageState(ctx).viewer) return refuseAnonymous(ctx);
      await next();
    },
    admin: async (ctx, next) => {
      await loadViewer(ctx);
      const viewer = pageState(ctx).viewer;
      if (!viewer) return refuseAnonymous(ctx);
      if (!viewer.user.isAdmin) throw new MnetFault(FaultCode.Forbidden, 'This page is for administrators.');
      await next();
    },
    form: async (ctx, next) => {
      const state = pageState(ctx);
      const form = await readForm(ctx);
      checkToken(form.get('_csrf'), state.viewer?.session.csrfToken ?? undefined);
      state.form = form;
      await next();
    },
    anonymous: async (ctx, next) => {
      await loadViewer(ctx);
      const state = pageState(ctx);
      let token = ctx.cookies.get(FORM_COOKIE);
      if (!token || !/^[0-9a-f]{64}$/.test(token)) {
        token = crypto.randomBytes(32).toString('hex');
        setCookie(ctx, FORM_COOKIE, token, { secure });
      }
      // A logged-in viewer on an anonymous page (login while logged in): the forms still use the form cookie.
      state.csrfToken = token;
      await next();
    },
    anonymousForm: async (ctx, next) => {
      const state = pageState(ctx);
      const form = await readForm(ctx);
      checkToken(form.get('_csrf'), ctx.cookies.get(FORM_COOKIE));
      state.form = form;
      await next();
    },
  };
}

/** A form field, trimmed; missing counts as empty. */
export function field(form: URLSearchParams, name: string): string {
  return (form.get(name) ?? '').trim();
}
