import type Koa from 'koa';
import type { Config } from '../config.js';
import type { Session } from '../identity/sessions.js';
import type { User } from '../identity/users.js';
import { FLASH_COOKIE, clearCookie, setCookie } from './cookies.js';
import { html, type SafeHtml } from './html.js';
import { STYLESHEET_PATH } from './stylesheet.js';

/** Who is looking at a page: set by the guards in guards.ts. */
export interface Viewer {
  readonly user: User;
  readonly session: Session;
  /** The cookie value, needed to end the session at logout. */
  readonly sessionToken: string;
}

/** What the guards leave in ctx.state for a page. */
export interface PageState {
  viewer?: Viewer;
  /** The parsed, CSRF-checked body of a form post. */
  form?: URLSearchParams;
  /** The CSRF token this page's forms must echo. */
  csrfToken?: string;
  /** Errors become an HTML page rather than plain text (app.ts). */
  htmlErrors?: boolean;
}

export function pageState(ctx: Koa.Context): PageState {
  return ctx.state as PageState;
}

/** The viewer of a page behind a guard; the guard has already refused anyone else. */
export function viewerOf(ctx: Koa.Context): Viewer {
  const viewer = pageState(ctx).viewer;
  if (!viewer) throw new Error('viewerOf() on a page without a user guard');
  return viewer;
}

/**
 * A site-relative path as a link: WWWROOT may have a path (a proxy maps https://school/portfolio/ to
 * us), and links must keep it, as the LEAP importer's download links do (§6.8).
 */
export function href(config: Config, path: string, query?: Record<string, string | number | undefined>): string {
  const base = new URL(`${config.wwwroot}/`).pathname;
  let url = base + path.replace(/^\//, '');
  const params = Object.entries(query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '');
  if (params.length > 0) url += '?' + new URLSearchParams(params.map(([k, v]) => [k, String(v)])).toString();
  return url;
}

/** The hidden field every form carries (guards.ts checks it). */
export function csrfField(ctx: Koa.Context): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${pageState(ctx).csrfToken ?? ''}">`;
}

/** A one-button form that posts to `action`: for actions that change something (never a GET link). */
export function postButton(ctx: Koa.Context, action: string, label: string, options: { danger?: boolean; fields?: Record<string, string> } = {}): SafeHtml {
  const fields = Object.entries(options.fields ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return html`<form method="post" action="${action}" class="inline">${csrfField(ctx)}${fields}<button type="submit"${options.danger ? html` class="danger"` : ''}>${label}</button></form>`;
}

/** Shows `message` on the next page rendered for this browser (after a redirect). */
export function flash(ctx: Koa.Context, config: Config, message: string): void {
  setCookie(ctx, FLASH_COOKIE, encodeURIComponent(message.slice(0, 500)), { secure: config.wwwroot.startsWith('https://'), maxAge: 60 });
}

/** Redirect after a form post (303: the browser follows with GET). */
export function redirectTo(ctx: Koa.Context, config: Config, path: string, query?: Record<string, string | number | undefined>): void {
  ctx.status = 303;
  ctx.redirect(href(config, path, query));
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  status?: number;
}

function takeFlash(ctx: Koa.Context, config: Config): string | undefined {
  const value = ctx.cookies.get(FLASH_COOKIE);
  if (value === undefined || value === '') return undefined;
  clearCookie(ctx, FLASH_COOKIE, config.wwwroot.startsWith('https://'));
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function navigation(ctx: Koa.Context, config: Config): SafeHtml {
  const viewer = pageState(ctx).viewer;
  if (!viewer) return html``;
  const links: Array<[string, string]> = [
    ['/', 'Home'],
    ['/artefact/file/', 'Files'],
    ['/journal/', 'Journals'],
    ['/imports/', 'Imports'],
  ];
  if (viewer.user.isAdmin) links.push(['/admin/', 'Administration']);
  const current = ctx.path;
  const items = links.map(([path, label]) => {
    const active = path === '/' ? current === '/' : current.startsWith(path);
    return html`<li><a href="${href(config, path)}"${active ? html` aria-current="page"` : ''}>${label}</a></li>`;
  });
  return html`<nav aria-label="Main"><ul>${items}</ul>
<form method="post" action="${href(config, '/logout')}" class="inline logout">${csrfField(ctx)}<span>${viewer.user.username}</span> <button type="submit">Log out</button></form></nav>`;
}

/**
 * Renders a full page in the site layout. Pages are server-rendered without scripts; the CSP forbids
 * any, so even an escaping mistake or a student's HTML that got past the sanitiser cannot run code.
 */
export function renderPage(ctx: Koa.Context, config: Config, options: PageOptions): void {
  const message = takeFlash(ctx, config);
  ctx.status = options.status ?? 200;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  // Same-origin only: a password link's token never leaves in a Referer. Not `no-referrer`: Chromium
  // then sends `Origin: null` with form posts, and guards.ts refuses those (seen in the browser tests).
  ctx.set('Referrer-Policy', 'same-origin');
  ctx.body = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} - ${config.siteName}</title>
<link rel="stylesheet" href="${href(config, STYLESHEET_PATH)}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><p class="site"><a href="${href(config, '/')}">${config.siteName}</a></p>${navigation(ctx, config)}</header>
<main id="main">
${message ? html`<p class="flash" role="status">${message}</p>` : ''}
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>
`.value;
}
