import Router from '@koa/router';
import Koa from 'koa';
import { engineName } from '../db/knex.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { Services } from '../services.js';
import { mountAdminRoutes } from './admin/index.js';
import { createGuards } from './guards.js';
import { html } from './html.js';
import { mountLoginRoutes } from './login-routes.js';
import { MNET_SERVER_PATH, PUBLIC_KEY_PATH } from './mnet-paths.js';
import { pageState, renderPage } from './page.js';
import { readBody } from './read-body.js';
import { mountStylesheet } from './stylesheet.js';
import { mountUserRoutes } from './user/index.js';
import { mountSsoRoutes } from './sso-routes.js';


/** The HTTP layer: routes, and the one place where an error becomes a status and a body (koa style). */
export function createWebApp(services: Services): Koa {
  const app = new Koa();
  const router = new Router();
  const { mnetServer, config, keys, db, log } = services;

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const status = httpStatusOf(err);
      const expose = err instanceof MnetFault ? err.expose : (err as { expose?: boolean }).expose === true;
      if (status >= 500) log.error('request failed', { path: ctx.path, error: err });
      const message = expose && err instanceof Error ? err.message : status >= 500 ? 'Internal server error' : 'Bad request';
      if (pageState(ctx).htmlErrors) {
        renderPage(ctx, config, { title: ERROR_HEADINGS[status] ?? 'Something went wrong', status, body: html`<p class="error" role="alert">${message}</p>` });
        return;
      }
      ctx.status = status;
      ctx.type = 'text/plain';
      ctx.body = message;
    }
  });

  router.post(MNET_SERVER_PATH, async (ctx) => {
    let body: Buffer;
    try {
      body = await readBody(ctx.req, config.mnet.maxRequestBytes);
    } catch (err) {
      if (!(err instanceof MnetFault) || err.code !== FaultCode.BodyTooLarge) throw err;
      log.info('refused an oversized MNet request', { limit: config.mnet.maxRequestBytes });
      // Close the connection rather than drain the rest of an oversized upload.
      ctx.set('Connection', 'close');
      const reply = mnetServer.plainFault(err);
      ctx.status = 413;
      ctx.type = reply.contentType;
      ctx.body = reply.body;
      return;
    }
    const reply = await mnetServer.handle({ body, host: ctx.get('host') || undefined });
    ctx.status = reply.status;
    ctx.type = reply.contentType;
    ctx.body = reply.body;
  });

  // Mahara advertises this URL in its signatures but never serves it; we do, for admins and scripts (§1.1).
  router.get(PUBLIC_KEY_PATH, async (ctx) => {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = (await keys.current()).certificatePem;
  });

  router.get('/healthz', async (ctx) => {
    const report: Record<string, unknown> = { wwwroot: config.wwwroot, database: { engine: engineName(db) } };
    let healthy = true;
    try {
      await db.raw('select 1');
      report.database = { engine: engineName(db), ok: true };
    } catch (err) {
      // The details (host, user, database) are for the log, not for whoever asks.
      log.error('health check: database unreachable', { error: err });
      healthy = false;
      report.database = { engine: engineName(db), ok: false };
    }
    if (healthy) {
      try {
        const key = await keys.current();
        report.key = { ok: true, fingerprint: key.sha1Fingerprint, expires: key.expires.toISOString() };
      } catch (err) {
        log.error('health check: no usable key pair', { error: err });
        healthy = false;
        report.key = { ok: false };
      }
    }
    report.ok = healthy;
    ctx.status = healthy ? 200 : 503;
    ctx.body = report;
  });

  mountSsoRoutes(router, services);
  mountStylesheet(router);
  const guards = createGuards(services);
  mountLoginRoutes(router, services, guards);
  mountAdminRoutes(router, services, guards);
  mountUserRoutes(router, services, guards);

  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

const ERROR_HEADINGS: Record<number, string> = {
  400: 'That did not work',
  401: 'Not logged in',
  403: 'Not allowed',
  404: 'Not found',
  413: 'Too large',
};

/** The HTTP status of an error: our fault codes where a page refuses, koa's `status` otherwise. */
function httpStatusOf(err: unknown): number {
  if (err instanceof MnetFault) {
    switch (err.code) {
      case FaultCode.InvalidInput:
        return 400;
      case FaultCode.LoginFailed:
        return 401;
      case FaultCode.Forbidden:
        return 403;
      case FaultCode.NotFound:
      case FaultCode.PeerNotFound:
        return 404;
      case FaultCode.BodyTooLarge:
        return 413;
    }
  }
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' ? status : 500;
}
