import type Router from '@koa/router';
import type Koa from 'koa';
import type { Config } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import { findSession } from '../identity/sessions.js';
import { jumpToSp } from '../identity/sso-jump.js';
import { landFromIdp } from '../identity/sso-land.js';
import type { Services } from '../services.js';
import { SESSION_COOKIE, clearCookie, setCookie } from './cookies.js';
import { html } from './html.js';
import { renderPage } from './page.js';

/** Mahara's land page path (§8.1); Moodle builds it from our wwwroot and the `mahara` application. */
export const SSO_LAND_PATH = '/auth/xmlrpc/land.php';
/** Mahara's jump page (§8.2 step 1): Moodle builds its return links from our wwwroot and this path. */
export const SSO_JUMP_PATH = '/auth/xmlrpc/jump.php';

/** The SSO pages, mounted by app.ts: land (we are SP, §8.1) and jump (we are IdP, §8.2). */
export function mountSsoRoutes(router: Router, services: Services): void {
  const { config } = services;
  const secure = config.wwwroot.startsWith('https://');

  router.get(SSO_LAND_PATH, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const current = ctx.cookies.get(SESSION_COOKIE);
    try {
      const result = await landFromIdp(
        services,
        {
          token: queryParam(ctx, 'token'),
          idp: queryParam(ctx, 'idp'),
          wantsurl: queryParam(ctx, 'wantsurl'),
          remoteurl: isTrue(queryParam(ctx, 'remoteurl')),
          userAgent: ctx.get('User-Agent'),
          currentSessionToken: current,
        },
        config,
      );
      setCookie(ctx, SESSION_COOKIE, result.sessionToken, { secure });
      // Mahara answers the landing with 303 and the session cookie (measured, §8.1).
      ctx.status = 303;
      ctx.redirect(result.redirect);
    } catch (err) {
      if (!(err instanceof MnetFault) || (err.code !== FaultCode.SsoRefused && err.code !== FaultCode.InvalidInput)) throw err;
      // The old session may have been ended before the refusal; a stale cookie would only confuse.
      if (current) clearCookie(ctx, SESSION_COOKIE, secure);
      refuse(ctx, config, err, 'Could not log you in');
    }
  });

  // We are the IdP: send a logged-in user to a service provider (§8.2). `ins` (Mahara's auth instance)
  // is accepted and ignored: one peer stands for one instance here.
  router.get(SSO_JUMP_PATH, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const heading = 'Could not sign you on';
    const cookie = ctx.cookies.get(SESSION_COOKIE);
    const session = cookie ? await findSession(services.db, cookie, services.now()) : undefined;
    if (!session) {
      renderPage(ctx, config, { title: heading, status: 401, body: html`<p class="error" role="alert">You need to be logged in here before you can sign on to another site.</p>` });
      return;
    }
    try {
      const result = await jumpToSp(services, {
        session,
        wr: queryParam(ctx, 'wr'),
        hostwwwroot: queryParam(ctx, 'hostwwwroot'),
        wantsurl: queryParam(ctx, 'wantsurl'),
        userAgent: ctx.get('User-Agent'),
      });
      ctx.status = 303;
      ctx.redirect(result.redirect);
    } catch (err) {
      if (!(err instanceof MnetFault) || (err.code !== FaultCode.SsoRefused && err.code !== FaultCode.InvalidInput)) throw err;
      refuse(ctx, config, err, heading);
    }
  });
}

/** A single query value; a repeated parameter counts as malformed rather than picking one. */
function queryParam(ctx: Koa.Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw new MnetFault(FaultCode.InvalidInput, `The sign-on link has more than one ${name}.`);
  return value;
}

/** PHP's param_boolean as Mahara reads `remoteurl`. */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

/** A refused sign-on, in the site's page layout: 400 for a malformed link, 403 for a refusal. */
function refuse(ctx: Koa.Context, config: Config, err: MnetFault, heading: string): void {
  const status = err.code === FaultCode.InvalidInput ? 400 : 403;
  renderPage(ctx, config, { title: heading, status, body: html`<p class="error" role="alert">${err.message}</p>` });
}
