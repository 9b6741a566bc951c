import crypto from 'node:crypto';
import type { Knex } from 'knex';

/**
 * Browser sessions. The cookie carries a random token; the table keeps only its SHA-256, so reading the
 * database does not give anyone a way in. A session made by an SSO landing remembers its IdP and the
 * username the IdP knows the user by, for kill_child and keepalive (§8.5, §8.6).
 */
export interface Session {
  readonly id: number;
  readonly userId: number;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
  readonly expiresAt: Date;
  /** The IdP the user came from by SSO; null for other logins. */
  readonly idpPeerId: number | null;
  /** The username as that IdP sent it. */
  readonly remoteUsername: string | null;
  /** SHA-1 hex of the User-Agent at login (§8's hash). */
  readonly userAgentSha1: string | null;
  /** Echoed by every form of this session (src/web/csrf.ts); null for sessions older than the web pages. */
  readonly csrfToken: string | null;
}

export interface NewSession {
  userId: number;
  idpPeerId?: number | null;
  remoteUsername?: string | null;
  /** The raw User-Agent header; only its SHA-1 is kept. */
  userAgent?: string | null;
  now: Date;
  lifetimeSeconds: number;
}

interface SessionRow {
  id: number;
  token_sha256: string;
  user_id: number;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  idp_peer_id: number | null;
  remote_username: string | null;
  user_agent_sha1: string | null;
  csrf_token: string | null;
}

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: new Date(row.created_at),
    lastSeenAt: new Date(row.last_seen_at),
    expiresAt: new Date(row.expires_at),
    idpPeerId: row.idp_peer_id,
    remoteUsername: row.remote_username,
    userAgentSha1: row.user_agent_sha1 === null ? null : row.user_agent_sha1.trim(),
    csrfToken: row.csrf_token,
  };
}

/** The MNet user-agent hash (§8): SHA-1 hex of the header exactly as received. */
export function hashUserAgent(userAgent: string): string {
  return crypto.createHash('sha1').update(userAgent, 'utf8').digest('hex');
}

function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

// A cookie value we issued is 64 hex characters; anything else cannot be a session, so no query is made.
const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** Starts a session; the returned token is the cookie value and is not stored anywhere. */
export async function createSession(db: Knex, input: NewSession): Promise<{ token: string; session: Session }> {
  const token = crypto.randomBytes(32).toString('hex');
  const [row] = await db<SessionRow>('sessions')
    .insert({
      token_sha256: hashToken(token),
      user_id: input.userId,
      created_at: input.now,
      last_seen_at: input.now,
      expires_at: new Date(input.now.getTime() + input.lifetimeSeconds * 1000),
      idp_peer_id: input.idpPeerId ?? null,
      remote_username: input.remoteUsername ?? null,
      user_agent_sha1: input.userAgent == null ? null : hashUserAgent(input.userAgent),
      csrf_token: crypto.randomBytes(32).toString('hex'),
    })
    .returning('*');
  return { token, session: toSession(row as SessionRow) };
}

/** The live session of a cookie value; undefined when unknown, malformed or expired (no sliding expiry). */
export async function findSession(db: Knex, token: string, now: Date): Promise<Session | undefined> {
  if (!TOKEN_PATTERN.test(token)) return undefined;
  const row = await db<SessionRow>('sessions').where({ token_sha256: hashToken(token) }).where('expires_at', '>', now).first();
  return row && toSession(row);
}

/** Ends one session (logout); true when there was one. */
export async function endSession(db: Knex, token: string): Promise<boolean> {
  if (!TOKEN_PATTERN.test(token)) return false;
  return (await deleteSessions(db('sessions').where({ token_sha256: hashToken(token) }))) > 0;
}

/** Ends every session of a user, whatever its origin (kill_child, §8.5); returns how many. */
export async function endSessionsOfUser(db: Knex, userId: number): Promise<number> {
  return deleteSessions(db('sessions').where({ user_id: userId }));
}

/** Counts through `returning`: knex-pglite answers a bare delete with its raw result rather than a count. */
async function deleteSessions(query: Knex.QueryBuilder): Promise<number> {
  return (await query.delete().returning('id')).length;
}

/**
 * Keepalive (§8.6): pushes the expiry of the live SSO sessions of these remote usernames, from this IdP,
 * to now + lifetime (never shortens one). Usernames compare case-insensitively, as the mapping does.
 * Returns how many sessions were extended.
 */
export async function extendSessions(
  db: Knex,
  input: { idpPeerId: number; usernames: readonly string[]; now: Date; lifetimeSeconds: number },
): Promise<number> {
  if (input.usernames.length === 0) return 0;
  const lowered = [...new Set(input.usernames.map((u) => u.toLowerCase()))];
  const until = new Date(input.now.getTime() + input.lifetimeSeconds * 1000);
  return db('sessions')
    .where({ idp_peer_id: input.idpPeerId })
    .whereRaw(`lower(remote_username) in (${lowered.map(() => '?').join(', ')})`, lowered)
    .where('expires_at', '>', input.now)
    .update({ last_seen_at: input.now, expires_at: db.raw('greatest(expires_at, ?)', [until]) });
}
