import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { createUser, findUserByUsername, normaliseUsername, toUser, type User, type UserRow } from './users.js';

/** Consecutive failures that lock an account, and for how long: slows guessing to a crawl. */
const MAX_FAILED_LOGINS = 5;
const LOCKOUT_MS = 15 * 60 * 1000;
/** A password link (admin create, password reset) is good for one use within this time. */
export const PASSWORD_LINK_LIFETIME_MS = 24 * 60 * 60 * 1000;

// Verified against when the user has no password, so an unknown name takes as long as a wrong password.
const DUMMY_HASH = hashPassword(crypto.randomBytes(16).toString('hex'));

const REFUSED = 'Wrong username or password.';

/**
 * A local login: the user, or LoginFailed with a message that never says whether the name exists.
 * Five wrong passwords in a row lock the account for 15 minutes; a suspended user is told so only
 * after giving the right password.
 */
export async function loginWithPassword(db: Knex, input: { username: string; password: string; now: Date }): Promise<User> {
  const row = await db<UserRow & { failed_logins: number; locked_until: Date | null }>('users')
    .whereRaw('lower(username) = lower(?)', [input.username.trim()])
    .first();
  if (!row || row.password_hash === null) {
    await verifyPassword(input.password, await DUMMY_HASH);
    throw new MnetFault(FaultCode.LoginFailed, REFUSED);
  }
  if (row.locked_until && new Date(row.locked_until) > input.now) {
    throw new MnetFault(FaultCode.LoginFailed, 'Too many failed logins: try again in 15 minutes.');
  }
  if (!(await verifyPassword(input.password, row.password_hash))) {
    const failures = row.failed_logins + 1;
    const locked = failures >= MAX_FAILED_LOGINS;
    await db('users')
      .where({ id: row.id })
      .update({ failed_logins: locked ? 0 : failures, locked_until: locked ? new Date(input.now.getTime() + LOCKOUT_MS) : null });
    throw new MnetFault(FaultCode.LoginFailed, REFUSED);
  }
  if (row.failed_logins > 0 || row.locked_until) await db('users').where({ id: row.id }).update({ failed_logins: 0, locked_until: null });
  if (!row.login_allowed) throw new MnetFault(FaultCode.LoginFailed, 'Your account is suspended. Ask an administrator.');
  return toUser(row);
}

function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A single-use token that lets its holder set the user's password; only its hash is stored. */
export async function createPasswordLink(db: Knex, userId: number, now: Date): Promise<string> {
  const token = crypto.randomBytes(32).toString('hex');
  await db('password_links').insert({
    token_sha256: hashToken(token),
    user_id: userId,
    created_at: now,
    expires_at: new Date(now.getTime() + PASSWORD_LINK_LIFETIME_MS),
  });
  return token;
}

/** The user a live, unused password link belongs to. */
export async function findPasswordLinkUser(db: Knex, token: string, now: Date): Promise<User | undefined> {
  if (!/^[0-9a-f]{64}$/.test(token)) return undefined;
  const row = await db<UserRow>('users')
    .join('password_links', 'password_links.user_id', 'users.id')
    .where('password_links.token_sha256', hashToken(token))
    .whereNull('password_links.used_at')
    .where('password_links.expires_at', '>', now)
    .select('users.*')
    .first();
  return row && toUser(row);
}

/**
 * Sets the password through a link and uses the link up, in one transaction: of two concurrent
 * submissions only one succeeds. Other links of the user stay valid until they expire.
 */
export async function setPasswordWithLink(db: Knex, input: { token: string; password: string; now: Date }): Promise<User> {
  const problem = passwordProblem(input.password);
  if (problem) throw new MnetFault(FaultCode.InvalidInput, problem);
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (trx) => {
    const [link] = /^[0-9a-f]{64}$/.test(input.token)
      ? await trx('password_links')
          .where({ token_sha256: hashToken(input.token) })
          .whereNull('used_at')
          .where('expires_at', '>', input.now)
          .update({ used_at: input.now })
          .returning('user_id')
      : [];
    if (!link) throw new MnetFault(FaultCode.NotFound, 'This link has expired or has been used already. Ask an administrator for a new one.');
    const [row] = await trx('users')
      .where({ id: link.user_id })
      .update({ password_hash: passwordHash, failed_logins: 0, locked_until: null, updated_at: input.now })
      .returning('*');
    return toUser(row as UserRow);
  });
}

/**
 * `admin create <username>`: makes the named account an admin, creating a local account with exactly
 * that (normalised) name when none exists. An existing account keeps its password.
 */
export async function ensureAdmin(db: Knex, username: string, now: Date): Promise<{ user: User; created: boolean }> {
  const wanted = normaliseUsername(username.trim());
  if (wanted === '' || wanted !== username.trim().toLowerCase()) {
    throw new MnetFault(FaultCode.InvalidInput, `"${username}" is not a valid username: use letters, digits and _ . @ - only.`);
  }
  const existing = await findUserByUsername(db, wanted);
  const user = existing ?? (await createUser(db, { username: wanted }, now));
  if (user.username !== wanted) throw new MnetFault(FaultCode.InvalidInput, `The username ${wanted} was taken meanwhile; try again.`);
  const [row] = await db<UserRow>('users').where({ id: user.id }).update({ is_admin: true, updated_at: now }).returning('*');
  return { user: toUser(row as UserRow), created: !existing };
}

/** Grants or withdraws the admin pages. */
export async function setAdmin(db: Knex, userId: number, isAdmin: boolean, now: Date): Promise<User | undefined> {
  const [row] = await db<UserRow>('users').where({ id: userId }).update({ is_admin: isAdmin, updated_at: now }).returning('*');
  return row && toUser(row as UserRow);
}
