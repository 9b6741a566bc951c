import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { MnetClient } from '../mnet/client.js';
import type { XmlRpcStruct, XmlRpcValue } from '../mnet/codec.js';
import { MethodPath, type CallContext, type MethodRegistry } from '../mnet/methods.js';
import { findPeer, type Peer } from '../mnet/peers.js';
import { findUserById, findUserByUsername } from './users.js';

/** Moodle's service name for what an identity provider offers its service providers (§7.1). */
export const SSO_IDP_SERVICE = 'sso_idp';

/** kill_children's refusal, word for word as Mahara answers it (§7.2). */
export const KILL_CHILDREN_REFUSAL = 'This host is not permitted to kill sessions for this username';

/** user_authorise faults (§8.2 "Token lifetime"): Moodle's codes, so a Moodle SP logs the same meaning. */
export const AuthoriseFault = { NoSession: 1, TimedOut: 2, NoUser: 3 } as const;

export interface SsoIdpDeps {
  /** To forward a logout to the user's other service providers (kill_child, §8.5). */
  client: Pick<MnetClient, 'call'>;
  config: Pick<Config, 'wwwroot' | 'sessionLifetimeSeconds'>;
}

interface SsoSessionRow {
  user_id: number;
  peer_id: number;
  token: string | null;
  useragent_sha1: string;
  confirm_timeout: Date;
  expires_at: Date;
  session_id: number | null;
}

const TOKEN_PATTERN = /^[0-9a-f]{40}$/;

function noSession(): MnetFault {
  return new MnetFault(AuthoriseFault.NoSession, 'No such session exists');
}

/** Whether the session a jump was made from is still live: a logout in between voids the token. */
async function isLiveSession(db: Knex, sessionId: number | null, now: Date): Promise<boolean> {
  if (sessionId === null) return false;
  return (await db('sessions').where({ id: sessionId }).where('expires_at', '>', now).first('id')) !== undefined;
}

/**
 * user_authorise(token, useragent hash) per our token rules (§8.2): the token must belong to the calling
 * peer and to the same browser (else 1), be confirmed within the window (else 2), and its user must still
 * exist and be allowed in (else 3). It is consumed by the first success. Returns Mahara's record (§8.4).
 */
async function authoriseToken(params: readonly XmlRpcValue[], ctx: CallContext, config: SsoIdpDeps['config']): Promise<XmlRpcStruct> {
  const [token, uaHash] = params;
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token) || typeof uaHash !== 'string') throw noSession();
  const row = await ctx.db<SsoSessionRow>('sso_sessions').where({ token, peer_id: ctx.peer.id }).first();
  if (!row || row.useragent_sha1 !== uaHash.toLowerCase()) throw noSession();
  if (new Date(row.confirm_timeout).getTime() < ctx.now.getTime()) {
    throw new MnetFault(AuthoriseFault.TimedOut, 'This session has timed out');
  }
  if (!(await isLiveSession(ctx.db, row.session_id, ctx.now))) throw noSession();
  const user = await findUserById(ctx.db, row.user_id);
  if (!user || !user.loginAllowed) throw new MnetFault(AuthoriseFault.NoUser, 'The user of this session no longer exists');
  // Moodle refuses a record without an email (§8.2 step 5); say why here rather than let it guess.
  if (user.email.trim() === '') {
    throw new MnetFault(FaultCode.Application, `User ${user.username} has no email address, so they cannot be signed on`);
  }

  // The token is cleared only where it still stands, so of two concurrent calls one wins.
  const consumed = await ctx.db('sso_sessions')
    .where({ token, peer_id: ctx.peer.id, user_id: row.user_id })
    .update({ token: null })
    .returning('user_id');
  if (consumed.length === 0) throw noSession();
  ctx.log.info('SSO: user_authorise confirmed a jump', { sp: ctx.peer.wwwroot, username: user.username });

  // Mahara's set (§8.4) plus what it SHOULD send: lang, wwwroot, session.gc_maxlifetime. We hold no
  // town, country or picture, so city and country stay empty and no _mnet_userpicture_* is sent.
  return {
    username: user.username,
    email: user.email,
    auth: 'mnet',
    confirmed: 1,
    deleted: 0,
    firstname: user.firstName,
    lastname: user.lastName,
    city: '',
    country: '',
    lang: 'en',
    wwwroot: config.wwwroot,
    'session.gc_maxlifetime': String(config.sessionLifetimeSeconds),
    myhosts: [],
  };
}

/**
 * keepalive_server (§8.6): pushes the expiry of the sessions our users jumped to this SP from to now +
 * lifetime (never shortens one). Usernames are ours (user_authorise sent them), compared case-insensitively.
 */
async function extendJumpedSessions(db: Knex, peer: Peer, usernames: readonly string[], now: Date, lifetimeSeconds: number): Promise<number> {
  const lowered = [...new Set(usernames.map((u) => u.toLowerCase()))];
  if (lowered.length === 0) return 0;
  const rows: Array<{ user_id: number; session_id: number | null }> = await db('sso_sessions')
    .join('users', 'users.id', 'sso_sessions.user_id')
    .where('sso_sessions.peer_id', peer.id)
    .whereRaw(`lower(users.username) in (${lowered.map(() => '?').join(', ')})`, lowered)
    .select('sso_sessions.user_id', 'sso_sessions.session_id');
  const sessionIds = rows.flatMap((r) => (r.session_id === null ? [] : [r.session_id]));
  if (sessionIds.length === 0) return 0;
  const until = new Date(now.getTime() + lifetimeSeconds * 1000);
  await db('sso_sessions')
    .where({ peer_id: peer.id })
    .whereIn('user_id', rows.map((r) => r.user_id))
    .update({ expires_at: db.raw('greatest(expires_at, ?)', [until]) });
  return (
    await db('sessions')
      .whereIn('id', sessionIds)
      .where('expires_at', '>', now)
      .update({ last_seen_at: now, expires_at: db.raw('greatest(expires_at, ?)', [until]) })
      .returning('id')
  ).length;
}

/**
 * kill_children (§8.5): the SP logged the user out. Only an SP the user jumped to may do this. Ends the
 * sessions the user jumped from, forgets all their jumps, then tells the user's other SPs (kill_child,
 * best effort: Mahara leaves this as a TODO; a failure is logged and does not change our answer).
 */
async function killChildren(params: readonly XmlRpcValue[], ctx: CallContext, deps: SsoIdpDeps): Promise<XmlRpcValue> {
  const [username, uaHash] = params;
  if (typeof username !== 'string' || username === '') return KILL_CHILDREN_REFUSAL;
  const user = await findUserByUsername(ctx.db, username);
  const rows: SsoSessionRow[] = user ? await ctx.db<SsoSessionRow>('sso_sessions').where({ user_id: user.id }) : [];
  // Only an SP we still send users to (weSsoOut) and that this user jumped to may end their sessions.
  if (!user || !ctx.peer.settings.weSsoOut || !rows.some((r) => r.peer_id === ctx.peer.id)) return KILL_CHILDREN_REFUSAL;

  const sessionIds = [...new Set(rows.flatMap((r) => (r.session_id === null ? [] : [r.session_id])))];
  const ended = await ctx.db.transaction(async (trx) => {
    await trx('sso_sessions').where({ user_id: user.id }).delete();
    // Counted through `returning`: knex-pglite answers a bare delete with its raw result.
    return sessionIds.length === 0 ? 0 : (await trx('sessions').whereIn('id', sessionIds).delete().returning('id')).length;
  });
  ctx.log.info('kill_children: ended sessions', { sp: ctx.peer.wwwroot, username: user.username, sessions: ended });

  const otherIds = rows.map((r) => r.peer_id).filter((id) => id !== ctx.peer.id);
  const others = otherIds.length === 0 ? [] : await ctx.db('peers').whereIn('id', otherIds).where({ deleted: false }).pluck('wwwroot');
  await Promise.all(
    others.map(async (wwwroot: string) => {
      try {
        const peer = await findPeer(ctx.db, wwwroot);
        if (peer) await deps.client.call(peer, MethodPath.killChild, [user.username, typeof uaHash === 'string' ? uaHash : '']);
      } catch (err) {
        ctx.log.warn('kill_children: could not forward the logout', { sp: wwwroot, username: user.username, error: err });
      }
    }),
  );
  return true;
}

/**
 * `sso_idp` (§7.1, §7.2): the methods a service provider calls on us as its identity provider. Published
 * by default to Moodle and Mahara peers; whether our users may jump there at all is the peer's weSsoOut flag.
 */
export function registerSsoIdpMethods(registry: MethodRegistry, deps: SsoIdpDeps): void {
  registry.registerService({
    name: SSO_IDP_SERVICE,
    description: 'Single sign-on, this site as identity provider: token confirmation, logout and keep-alive',
    publishedByDefaultTo: ['moodle', 'mahara'],
    subscribedByDefaultTo: [],
  });

  const username = { name: 'username', type: 'string', description: 'the username at this site (as user_authorise sent it)' };
  const useragent = { name: 'useragent', type: 'string', description: 'SHA-1 hex of the browser User-Agent' };

  registry.register({
    path: MethodPath.userAuthorise,
    service: SSO_IDP_SERVICE,
    params: [{ name: 'token', type: 'string', description: 'the token of the jump (40 hex)' }, useragent],
    returns: { type: 'struct', description: 'the user record (username, email, firstname, lastname, auth, ...)' },
    help: 'Confirms a single sign-on jump once, within the confirm window, for the same browser, and returns the user.',
    handler: (params, ctx) => authoriseToken(params, ctx, deps.config),
  });

  registry.register({
    path: MethodPath.fetchUserImage,
    service: SSO_IDP_SERVICE,
    params: [username],
    returns: { type: 'array', description: 'always empty: we hold no profile pictures' },
    // An empty array is what Moodle answers for a user without a picture; both Moodle and Mahara SPs accept it (§7.2).
    help: 'Profile picture of a user; we have none, so the answer is an empty array.',
    handler: async () => [],
  });

  registry.register({
    path: MethodPath.updateEnrolments,
    service: SSO_IDP_SERVICE,
    params: [username, { name: 'courses', type: 'struct', description: 'the courses the user is enrolled in at the SP' }],
    returns: { type: 'boolean', description: 'always true' },
    help: 'Course enrolments at the SP; we keep none, so this is a no-op (as in Mahara).',
    handler: async () => true,
  });

  registry.register({
    path: MethodPath.keepaliveServer,
    service: SSO_IDP_SERVICE,
    params: [{ name: 'usernames', type: 'array', description: 'users active at the SP lately' }],
    returns: { type: 'boolean', description: 'always true (no last log id: we do not serve refresh_log)' },
    help: 'Extends the sessions these users jumped to the caller from.',
    handler: async (params, ctx) => {
      const list = Array.isArray(params[0]) ? params[0].filter((u): u is string => typeof u === 'string') : [];
      const extended = await extendJumpedSessions(ctx.db, ctx.peer, list, ctx.now, deps.config.sessionLifetimeSeconds);
      ctx.log.debug('keepalive_server', { sp: ctx.peer.wwwroot, usernames: list.length, extended });
      return true;
    },
  });

  registry.register({
    path: MethodPath.killChildren,
    service: SSO_IDP_SERVICE,
    params: [username, useragent],
    returns: { type: 'boolean|string', description: `true, or "${KILL_CHILDREN_REFUSAL}"` },
    help: 'The user logged out at the caller: ends their sessions here and at their other service providers.',
    handler: (params, ctx) => killChildren(params, ctx, deps),
  });
}
