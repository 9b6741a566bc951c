import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import type { MnetClient } from '../mnet/client.js';
import type { XmlRpcStruct, XmlRpcValue } from '../mnet/codec.js';
import { MethodPath } from '../mnet/methods.js';
import { findPeer, type Peer } from '../mnet/peers.js';
import { findOrCreateRemoteUser, type RemoteProfile } from './remote-users.js';
import { createSession, endSession, hashUserAgent, type Session } from './sessions.js';
import type { User } from './users.js';

/**
 * Landing from a Moodle (or Mahara) IdP: mnet-protocol.md §8.1 step 3 and §8.3. No HTTP framework here:
 * the web layer hands over the query and the User-Agent and turns the result into a cookie and a 303,
 * or the thrown MnetFault into a page (SsoRefused → 403, InvalidInput → 400).
 */
export interface LandDeps {
  db: Knex;
  client: Pick<MnetClient, 'call'>;
  log: Logger;
  now: () => Date;
}

export interface LandRequest {
  token: string | undefined;
  idp: string | undefined;
  wantsurl?: string | undefined;
  /** Moodle sends `remoteurl=1` when the final target is on the IdP (the portfolio flow). */
  remoteurl?: boolean;
  /** The User-Agent header exactly as received; the IdP hashed the same string at jump time. */
  userAgent: string;
  /** The cookie of whoever is logged in now: that session ends before the new one starts (§8.1 step 3). */
  currentSessionToken?: string | undefined;
}

export interface LandResult {
  /** The new cookie value. */
  sessionToken: string;
  session: Session;
  user: User;
  /** Absolute URL to send the browser to. */
  redirect: string;
}

// Mahara's land.php takes `idp` as 1..255 characters (§8.1); a Moodle token is 40 hex characters.
const MAX_PARAM_LENGTH = 255;
const MAX_WANTSURL_LENGTH = 2048;

function refused(message: string, cause?: unknown): MnetFault {
  return new MnetFault(FaultCode.SsoRefused, message, cause === undefined ? {} : { cause });
}

function requiredParam(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new MnetFault(FaultCode.InvalidInput, `The sign-on link is missing its ${name}.`);
  if (value.length > MAX_PARAM_LENGTH || /[\u0000-\u001F\u007F]/.test(value)) {
    throw new MnetFault(FaultCode.InvalidInput, `The sign-on link has an invalid ${name}.`);
  }
  return value;
}

/**
 * The path part of the redirect (§8.1 step 3, checklist 52). Mahara appends `wantsurl` to a wwwroot
 * unchecked (an open redirect); we keep only a local path: anything with a scheme, a leading `//`, a
 * backslash (browsers read `/\host` as `//host`) or a control character becomes `/`. Characters a
 * Location header cannot carry are percent-encoded; existing escapes are kept.
 */
export function safeWantsurl(wantsurl: string | undefined): string {
  if (wantsurl === undefined || wantsurl === '') return '/';
  if (wantsurl.length > MAX_WANTSURL_LENGTH) return '/';
  if (/[\u0000-\u001F\u007F\\]/.test(wantsurl)) return '/';
  if (/^[a-z][a-z0-9+.-]*:/i.test(wantsurl)) return '/';
  const path = wantsurl.startsWith('/') ? wantsurl : `/${wantsurl}`;
  if (path.startsWith('//')) return '/';
  return path.replace(/[^\x21-\x7E]/gu, (c) => encodeURIComponent(c));
}

/** Moodle's user_authorise faults (§7.6), in words a user can act on. */
function describeIdpRefusal(peer: Peer, err: MnetFault): string {
  switch (err.code) {
    case 1:
      return `${peer.name} does not know this sign-on request (no such session). Go back to ${peer.name} and follow the link again.`;
    case 2:
      return `The sign-on request from ${peer.name} has timed out. Go back to ${peer.name} and follow the link again.`;
    case 3:
      return `${peer.name} could not find the user of this sign-on request.`;
    default:
      return `We could not confirm your sign-on with ${peer.name}. Please try again later.`;
  }
}

function stringMember(record: XmlRpcStruct, name: string): string {
  const value = record[name];
  if (typeof value === 'string') return value;
  return typeof value === 'number' ? String(value) : '';
}

function isStruct(value: XmlRpcValue): value is XmlRpcStruct {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** The §8.4 record reduced to what we keep; undefined without a usable `username`. */
function profileFrom(value: XmlRpcValue): RemoteProfile | undefined {
  if (!isStruct(value)) return undefined;
  const username = stringMember(value, 'username');
  if (username.trim() === '') return undefined;
  const idnumber = stringMember(value, 'idnumber');
  return {
    username,
    firstname: stringMember(value, 'firstname'),
    lastname: stringMember(value, 'lastname'),
    email: stringMember(value, 'email'),
    ...(idnumber !== '' ? { idnumber } : {}),
  };
}

/**
 * Logs a user in from an IdP. Throws MnetFault InvalidInput (bad link) or SsoRefused (any refusal, with
 * a message fit for the browser); creates a session only on success.
 */
export async function landFromIdp(
  deps: LandDeps,
  request: LandRequest,
  config: Pick<Config, 'wwwroot' | 'sessionLifetimeSeconds'>,
): Promise<LandResult> {
  const { db, client, log } = deps;
  const token = requiredParam('token', request.token);
  const idp = requiredParam('idp', request.idp);

  // One peer record stands for Mahara's xmlrpc auth instance of that wwwroot (§9.1).
  const peer = await findPeer(db, idp);
  if (!peer) throw refused(`There are no auth instances for ${idp}.`);

  if (request.currentSessionToken) await endSession(db, request.currentSessionToken);

  if (!peer.settings.theySsoIn) throw refused(`We don't accept SSO connections from ${peer.name}.`);

  let answer: XmlRpcValue;
  try {
    answer = await client.call(peer, MethodPath.userAuthorise, [token, hashUserAgent(request.userAgent)]);
  } catch (err) {
    if (!(err instanceof MnetFault)) throw err;
    log.info('SSO landing: the IdP did not authorise the token', { idp: peer.wwwroot, code: err.code, error: err });
    throw refused(describeIdpRefusal(peer, err), err);
  }
  const profile = profileFrom(answer);
  if (!profile) {
    log.warn('SSO landing: user_authorise answered without a username', { idp: peer.wwwroot });
    throw refused(`${peer.name} did not tell us who you are, so we could not log you in.`);
  }

  let user: User;
  try {
    ({ user } = await findOrCreateRemoteUser(db, peer, profile, {
      create: peer.settings.weAutoCreateUsers,
      updateProfile: peer.settings.updateUserInfoOnLogin,
      now: deps.now(),
    }));
  } catch (err) {
    if (!(err instanceof MnetFault) || err.code !== FaultCode.Application) throw err;
    log.info('SSO landing: no local user', { idp: peer.wwwroot, username: profile.username, reason: err.message });
    const message = peer.settings.weAutoCreateUsers
      ? `We could not log you in as ${profile.username} from ${peer.name}: ${err.message}.`
      : `There is no account here for ${profile.username} from ${peer.name}, and accounts are not created automatically for its users.`;
    throw refused(message, err);
  }
  if (!user.loginAllowed) throw refused(`The account ${user.username} is suspended here.`);

  // §8.3 step 8 (profile pictures through fetch_user_image) is left out on purpose: we store no
  // profile pictures yet, so there is nothing to fetch into.
  const { token: sessionToken, session } = await createSession(db, {
    userId: user.id,
    idpPeerId: peer.id,
    remoteUsername: profile.username,
    userAgent: request.userAgent,
    now: deps.now(),
    lifetimeSeconds: config.sessionLifetimeSeconds,
  });
  log.info('SSO landing', { idp: peer.wwwroot, username: user.username, session: session.id });
  const path = safeWantsurl(request.wantsurl);
  const redirect = (request.remoteurl ? peer.wwwroot : config.wwwroot) + path;
  return { sessionToken, session, user, redirect };
}
