import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../errors.js';
import { findSession } from '../identity/sessions.js';
import { jumpToSp } from '../identity/sso-jump.js';
import { landFromIdp } from '../identity/sso-land.js';
import type { Services } from '../services.js';
import { SESSION_COOKIE, clearCookie, setCookie } from './cookies.js';
import { escapeHtml } from './html.js';

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
      ctx.status = err.code === FaultCode.InvalidInput ? 400 : 403;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = refusalPage(config.siteName, err.message);
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
      ctx.status = 401;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = refusalPage(config.siteName, 'You need to be logged in here before you can sign on to another site.', heading);
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
      ctx.status = err.code === FaultCode.InvalidInput ? 400 : 403;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = refusalPage(config.siteName, err.message, heading);
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

function refusalPage(siteName: string, message: string, heading = 'Could not log you in'): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(heading)} - ${escapeHtml(siteName)}</title></head>
<body>
<h1>${escapeHtml(heading)}</h1>
<p>${escapeHtml(message)}</p>
</body>
</html>
`;
}
