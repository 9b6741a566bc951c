import type Koa from 'koa';
import type { Knex } from 'knex';
import type { Config } from '../../config.js';
import { FaultCode, MnetFault } from '../../errors.js';
import { findUserByUsername } from '../../identity/users.js';
import { listPeers, type Peer } from '../../mnet/peers.js';
import { type ImportEvent } from '../../portfolio/events.js';
import { html, type SafeHtml } from '../html.js';
import { href } from '../page.js';
import { parseId as parseIdOrUndefined, timeOf } from '../format.js';

/** Shared pieces of the queue and history pages (queue.ts, queue-detail.ts, queue-history.ts). */

/** A malformed id is 404, like an unknown one. */
export function parseId(value: string | undefined, what: string): number {
  const id = parseIdOrUndefined(value);
  if (id === undefined) throw new MnetFault(FaultCode.NotFound, `There is no ${what} ${value ?? ''}.`);
  return id;
}

/** A query parameter as one trimmed string ('' when absent or repeated). */
export function queryText(value: string | string[] | undefined): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** A token is a credential while the transfer lives: show enough to tell two apart, not enough to use. */
export function shortToken(token: string | null): string {
  return token ? `${token.slice(0, 8)}…` : '—';
}

export function timeOrDash(date: Date | null): SafeHtml {
  return date ? timeOf(date) : html`—`;
}

/** First line, cut: the list shows what went wrong, the detail page the whole text. */
export function shortText(text: string | null, max = 80): string {
  if (!text) return '';
  const line = text.split('\n')[0]!;
  return line.length > max || line !== text ? `${line.slice(0, max)}…` : line;
}

/** Peers by wwwroot, deleted ones too: old transfers name them. */
export async function peersByWwwroot(db: Knex): Promise<Map<string, Peer>> {
  return new Map((await listPeers(db, { includeDeleted: true })).map((p) => [p.wwwroot, p]));
}

export function peerLink(config: Config, peers: Map<string, Peer>, host: string | null): SafeHtml {
  if (host === null) return html`local upload`;
  const peer = peers.get(host);
  return peer ? html`<a href="${href(config, `/admin/peers/${peer.id}`)}">${peer.name}</a>` : html`${host}`;
}

/** Usernames of the users in a page of rows, in one query. */
export async function usernamesOf(db: Knex, ids: readonly number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('users').whereIn('id', [...new Set(ids)]).select('id', 'username')) as Array<{ id: number; username: string }>;
  return new Map(rows.map((r) => [r.id, r.username]));
}

/** The user filter of the queue and history lists: a username (any case), or nobody when it names no one. */
/** The filters of the queue and history lists: one of `allowed` (state or outcome), a peer, a username. */
export interface ListFilter<T extends string> {
  value: T | undefined;
  peer: string;
  username: string;
  /** The user the username names; undefined when none was given. */
  userId: number | undefined;
  /** A username was given that no user has: the list is empty. */
  unknownUser: boolean;
  /** Any filter is set. */
  filtered: boolean;
}

export async function readListFilter<T extends string>(ctx: Koa.Context, db: Knex, name: string, allowed: readonly T[]): Promise<ListFilter<T>> {
  const value = queryText(ctx.query[name]);
  const peer = queryText(ctx.query.peer);
  const username = queryText(ctx.query.user);
  if (value !== '' && !allowed.includes(value as T)) throw new MnetFault(FaultCode.InvalidInput, `${name[0]!.toUpperCase()}${name.slice(1)} must be one of ${allowed.join(', ')}.`);
  const user = username === '' ? undefined : await findUserByUsername(db, username);
  return {
    value: (value || undefined) as T | undefined,
    peer,
    username,
    userId: user?.id,
    unknownUser: username !== '' && !user,
    filtered: value !== '' || peer !== '' || username !== '',
  };
}

export function userLink(config: Config, usernames: Map<number, string>, userId: number): SafeHtml {
  return html`<a href="${href(config, `/admin/users/${userId}`)}">${usernames.get(userId) ?? `user ${userId}`}</a>`;
}

/** The event log of one transfer, oldest first. */
export function eventsTable(events: readonly ImportEvent[]): SafeHtml {
  if (events.length === 0) return html`<h2>Event log</h2><p>No events were recorded for this transfer.</p>`;
  const rows = events.map(
    (e) => html`<tr${e.level === 'error' ? html` class="highlight"` : ''}><td>${timeOf(e.at)}</td><td>${e.level}</td><td>${e.message}</td></tr>`,
  );
  return html`<h2 id="events">Event log</h2>
<div class="table-wrap"><table aria-labelledby="events">
<thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Event</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

/** A select of peers for a filter form; `selected` is a wwwroot. */
function peerSelect(peers: Map<string, Peer>, selected: string): SafeHtml {
  const options = [...peers.values()].map(
    (p) => html`<option value="${p.wwwroot}"${p.wwwroot === selected ? html` selected` : ''}>${p.name} (${p.wwwroot})${p.deleted ? ' (deleted)' : ''}</option>`,
  );
  return html`<div><label for="peer">Peer</label><select id="peer" name="peer"><option value="">All peers</option>${options}</select></div>`;
}

/** A select of fixed values for a filter form. */
function valueSelect(id: string, label: string, values: readonly string[], selected: string, anyLabel: string): SafeHtml {
  const options = values.map((v) => html`<option value="${v}"${v === selected ? html` selected` : ''}>${v}</option>`);
  return html`<div><label for="${id}">${label}</label><select id="${id}" name="${id}"><option value="">${anyLabel}</option>${options}</select></div>`;
}

/** The GET form over a list (state or outcome, peer, username), and the refusal of an unknown username. */
export function filterForm<T extends string>(
  config: Config,
  path: string,
  ariaLabel: string,
  filter: ListFilter<T>,
  peers: Map<string, Peer>,
  choice: { name: string; label: string; values: readonly T[]; anyLabel: string },
): SafeHtml {
  return html`<form method="get" action="${href(config, path)}" class="filters" aria-label="${ariaLabel}">
${valueSelect(choice.name, choice.label, choice.values, filter.value ?? '', choice.anyLabel)}
${peerSelect(peers, filter.peer)}
<div><label for="user">Username</label><input type="text" id="user" name="user" value="${filter.username}"></div>
<div><button type="submit">Filter</button> ${filter.filtered ? html`<a href="${href(config, path)}">Clear filters</a>` : ''}</div>
</form>
${filter.unknownUser ? html`<p class="error" role="alert">There is no user named ${filter.username}.</p>` : ''}`;
}
