import type Koa from 'koa';

export const SESSION_COOKIE = 'pis_session';
/** The login and password-link forms' CSRF token, before there is a session (double submit). */
export const FORM_COOKIE = 'pis_form';
/** One message shown on the next page, after a form redirects (post/redirect/get). */
export const FLASH_COOKIE = 'pis_flash';

/**
 * Set-Cookie by hand: koa's cookies refuse `Secure` when TLS ends at a proxy in front of us. Every
 * cookie is HttpOnly and SameSite=Lax; `Secure` whenever WWWROOT is https.
 */
export function setCookie(ctx: Koa.Context, name: string, value: string, options: { secure: boolean; maxAge?: number }): void {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  if (options.secure) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

export function clearCookie(ctx: Koa.Context, name: string, secure: boolean): void {
  setCookie(ctx, name, '', { secure, maxAge: 0 });
}
