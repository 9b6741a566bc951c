import type { Knex } from 'knex';
import { hashPassword } from '../../src/identity/passwords.js';
import { createUser, type User } from '../../src/identity/users.js';

/**
 * A browser stand-in for page tests over real HTTP: keeps cookies, does not follow redirects (tests look
 * at them), and posts forms with the CSRF token of the last page it fetched, as a browser would.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  /** The `_csrf` value of the last HTML page fetched. */
  csrf: string | undefined;

  constructor(readonly wwwroot: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || attributes.some((a) => a.trim().toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(path: string, init: RequestInit = {}): Promise<{ status: number; location: string | null; body: string; headers: Headers }> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('Cookie', this.cookieHeader());
    const response = await fetch(this.wwwroot + path, { ...init, headers, redirect: 'manual' });
    this.remember(response);
    const body = await response.text();
    const token = /name="_csrf" value="([0-9a-f]+)"/.exec(body);
    if (token) this.csrf = token[1];
    return { status: response.status, location: response.headers.get('location'), body, headers: response.headers };
  }

  get(path: string) {
    return this.request(path);
  }

  /** A form post with this client's CSRF token unless `fields` has its own `_csrf`. */
  post(path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    const form = new URLSearchParams({ ...(this.csrf === undefined ? {} : { _csrf: this.csrf }), ...fields });
    return this.request(path, {
      method: 'POST',
      body: form.toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(this.wwwroot).origin, ...headers },
    });
  }

  /** Logs in through the login page; throws unless it worked. */
  async login(username: string, password: string): Promise<void> {
    await this.get('/login');
    const answer = await this.post('/login', { username, password });
    if (answer.status !== 303) throw new Error(`login as ${username} failed: ${answer.status} ${answer.body.slice(0, 300)}`);
  }
}

/** A local account with a password, for page tests. */
export async function createLocalUser(db: Knex, input: { username: string; password: string; admin?: boolean; firstName?: string; lastName?: string }): Promise<User> {
  const user = await createUser(db, { username: input.username, firstName: input.firstName ?? 'Test', lastName: input.lastName ?? 'User' });
  await db('users')
    .where({ id: user.id })
    .update({ password_hash: await hashPassword(input.password), is_admin: input.admin ?? false });
  return { ...user, isAdmin: input.admin ?? false, hasPassword: true };
}

/** The text of a page with tags removed and whitespace collapsed, for assertions on what a reader sees. */
export function visibleText(body: string): string {
  return body
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
