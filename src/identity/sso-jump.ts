import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import { findPeer, type Peer } from '../mnet/peers.js';
import { trimWwwroot } from '../mnet/wwwroot.js';
import { hashUserAgent, type Session } from './sessions.js';
import { safeWantsurl } from './sso-land.js';
import { findUserById, type User } from './users.js';

/**
 * Jumping to a service provider, we are the IdP: mnet-protocol.md §8.2 steps 1–3. No HTTP framework here:
 * the web layer hands over the logged-in session, the query and the User-Agent, and turns the result into
 * a 303, or the thrown MnetFault into a page (SsoRefused → 403, InvalidInput → 400).
 */
export interface JumpDeps {
  db: Knex;
  log: Logger;
  now: () => Date;
  config: Pick<Config, 'wwwroot' | 'sessionLifetimeSeconds' | 'ssoConfirmWindowSeconds'>;
  /** A fresh one-time token, 40 lowercase hex; CSPRNG by default (tests may pass their own). */
  randomToken?: () => string;
}

export interface JumpRequest {
  /** The live session of the browser that jumps (the web layer has already checked the cookie). */
  session: Session;
  /** The target SP's wwwroot: `wr` in Mahara's links (§8.2 step 1). */
  wr?: string | undefined;
  /** Moodle's form of the same link (`hostwwwroot`), accepted as an alias of `wr`. */
  hostwwwroot?: string | undefined;
  wantsurl?: string | undefined;
  /** The User-Agent header exactly as received; the SP hashes the same string when it lands. */
  userAgent: string;
}

export interface JumpResult {
  /** Absolute URL of the SP's land page to send the browser to. */
  redirect: string;
  peer: Peer;
  user: User;
  token: string;
}

const MAX_WWWROOT_LENGTH = 255;

function refused(message: string): MnetFault {
  return new MnetFault(FaultCode.SsoRefused, message);
}

/** `wr`, or its alias `hostwwwroot`; both given must agree. */
function targetOf(request: JumpRequest): string {
  const { wr, hostwwwroot } = request;
  if (wr && hostwwwroot && trimWwwroot(wr) !== trimWwwroot(hostwwwroot)) {
    throw new MnetFault(FaultCode.InvalidInput, 'The sign-on link names two different sites.');
  }
  const target = wr || hostwwwroot;
  if (!target) throw new MnetFault(FaultCode.InvalidInput, 'The sign-on link does not say which site to go to.');
  if (target.length > MAX_WWWROOT_LENGTH || /[\u0000-\u001F\u007F]/.test(target)) {
    throw new MnetFault(FaultCode.InvalidInput, 'The sign-on link names an invalid site.');
  }
  return target;
}

/**
 * Moodle's land.php requires `wantsurl` and reads it as a local URL (§8.2 step 3): empty stays empty,
 * anything else goes through the same local-path rule as our own landing (no scheme, no `//`).
 */
function wantsurlFor(wantsurl: string | undefined): string {
  return wantsurl === undefined || wantsurl === '' ? '' : safeWantsurl(wantsurl);
}

async function isMappedTo(db: Knex, userId: number, peerId: number): Promise<boolean> {
  return (await db('remote_users').where({ user_id: userId, peer_id: peerId }).first('user_id')) !== undefined;
}

/**
 * Sends a logged-in user to a service provider. Checks (§8.2 step 2): the peer exists and is not deleted,
 * we sign our users on there (weSsoOut), and the SP creates accounts for our users (theyAutoCreateUsers)
 * or this user is already linked to it. Then writes the (user, peer) sso_sessions row with a fresh token
 * and returns the SP's land URL. Throws InvalidInput (bad link) or SsoRefused (message fit for the browser).
 */
export async function jumpToSp(deps: JumpDeps, request: JumpRequest): Promise<JumpResult> {
  const { db, log, config } = deps;
  const target = targetOf(request);
  const wantsurl = wantsurlFor(request.wantsurl);

  const user = await findUserById(db, request.session.userId);
  if (!user || !user.loginAllowed) throw refused('Your account may not sign on to other sites.');

  // One peer record stands for Mahara's xmlrpc auth instance of that wwwroot; deleted peers are not found.
  const peer = await findPeer(db, target);
  if (!peer) throw refused(`${target} is not a site we know.`);
  if (!peer.settings.weSsoOut) throw refused(`Single sign-on to ${peer.name} is not enabled.`);
  if (!peer.settings.theyAutoCreateUsers && !(await isMappedTo(db, user.id, peer.id))) {
    throw refused(`Your account is not linked to ${peer.name}, and ${peer.name} does not create accounts for our users.`);
  }

  const now = deps.now();
  const token = (deps.randomToken ?? (() => crypto.randomBytes(20).toString('hex')))();
  const row = {
    token,
    useragent_sha1: hashUserAgent(request.userAgent),
    confirm_timeout: new Date(now.getTime() + config.ssoConfirmWindowSeconds * 1000),
    expires_at: new Date(now.getTime() + config.sessionLifetimeSeconds * 1000),
    session_id: request.session.id,
  };
  // One live token per (user, peer): a second jump replaces the first (§8.7).
  await db('sso_sessions')
    .insert({ user_id: user.id, peer_id: peer.id, ...row })
    .onConflict(['user_id', 'peer_id'])
    .merge(row);
  log.info('SSO jump', { sp: peer.wwwroot, username: user.username, session: request.session.id });

  // Our wwwroot exactly as the SP stores it (no trailing slash); `wantsurl` always present (§8.2 step 3).
  const query = new URLSearchParams({ token, idp: config.wwwroot, wantsurl });
  return { redirect: `${peer.wwwroot}${peer.ssoLandPath}?${query}`, peer, user, token };
}
