import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';

/** A local account. Remote identities point at it through `remote_users` (src/identity/remote-users.ts). */
export interface User {
  readonly id: number;
  /** Lower-case, unique case-insensitively, at most USERNAME_MAX_LENGTH characters. */
  readonly username: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
  /** The shared idnumber (§10), Mahara's "student id". */
  readonly studentId: string | null;
  /** Bytes. */
  readonly quota: number;
  readonly quotaUsed: number;
  readonly loginAllowed: boolean;
  /** May use the admin pages. */
  readonly isAdmin: boolean;
  /** Has a local password (otherwise only SSO logs them in). */
  readonly hasPassword: boolean;
  /** The peer whose SSO or SchoolTool call created the account; null for local accounts. */
  readonly createdByPeerId: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewUser {
  /** The wanted name; the stored one is derived from it (deriveUniqueUsername). */
  username: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  studentId?: string | null;
  loginAllowed?: boolean;
  createdByPeerId?: number | null;
}

export interface UserProfileChanges {
  firstName?: string;
  lastName?: string;
  email?: string;
  studentId?: string | null;
}

/** The `users.username` column width (migrations/0002_identity.ts). */
export const USERNAME_MAX_LENGTH = 100;

/** @internal A `users` row as the database returns it; remote-users.ts selects users through a join. */
export interface UserRow {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string;
  student_id: string | null;
  // bigint: node-postgres returns a string, PGlite a number.
  quota: string | number;
  quota_used: string | number;
  login_allowed: boolean;
  is_admin: boolean;
  password_hash: string | null;
  created_by_peer_id: number | null;
  created_at: Date;
  updated_at: Date;
}

/** @internal */
export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    studentId: row.student_id,
    quota: Number(row.quota),
    quotaUsed: Number(row.quota_used),
    loginAllowed: row.login_allowed,
    isAdmin: row.is_admin,
    hasPassword: row.password_hash !== null,
    createdByPeerId: row.created_by_peer_id,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export async function findUserById(db: Knex, id: number): Promise<User | undefined> {
  const row = await db<UserRow>('users').where({ id }).first();
  return row && toUser(row);
}

/** Case-insensitive, as Mahara compares usernames (§8.3). */
export async function findUserByUsername(db: Knex, username: string): Promise<User | undefined> {
  const row = await db<UserRow>('users').whereRaw('lower(username) = lower(?)', [username]).first();
  return row && toUser(row);
}

export async function listUsers(db: Knex): Promise<User[]> {
  const rows = await db<UserRow>('users').orderBy('username');
  return rows.map(toUser);
}

export interface UserSearch {
  /** Part of the username, first, last or full name, email or student id; case-insensitive. Empty: everyone. */
  text?: string;
  offset: number;
  limit: number;
}

/** One page of users by username, and how many match in all (the admin's user list). */
export async function searchUsers(db: Knex, search: UserSearch): Promise<{ users: User[]; total: number }> {
  const text = search.text?.trim() ?? '';
  const matching = () => {
    const query = db<UserRow>('users');
    if (text === '') return query;
    // The text is literal: % and _ must not act as wildcards (backslash is LIKE's default escape).
    const pattern = `%${text.replace(/[\\%_]/g, '\\$&')}%`;
    return query.where((q) =>
      q
        .whereILike('username', pattern)
        .orWhereILike('first_name', pattern)
        .orWhereILike('last_name', pattern)
        .orWhereRaw("first_name || ' ' || last_name ilike ?", [pattern])
        .orWhereILike('email', pattern)
        .orWhereILike('student_id', pattern),
    );
  };
  const [rows, [count]] = await Promise.all([
    matching().orderBy('username').offset(search.offset).limit(search.limit),
    matching().count({ n: '*' }),
  ]);
  return { users: rows.map(toUser), total: Number(count!.n) };
}

export async function hasAdmin(db: Knex): Promise<boolean> {
  return (await db('users').where({ is_admin: true }).first('id')) !== undefined;
}

export async function countUsers(db: Knex): Promise<number> {
  const [row] = await db('users').count({ n: '*' });
  return Number(row!.n);
}

/**
 * The base of a derived username: lower-cased (§8.3), every character outside [a-z0-9_.@-] replaced by
 * "_" so the name is safe in URLs, file names and logs, then cut to the column width.
 */
export function normaliseUsername(wanted: string): string {
  return wanted
    .toLowerCase()
    .replace(/[^a-z0-9_.@-]/gu, '_')
    .slice(0, USERNAME_MAX_LENGTH);
}

function withSuffix(base: string, n: number): string {
  if (n === 0) return base;
  const suffix = String(n);
  return base.slice(0, USERNAME_MAX_LENGTH - suffix.length) + suffix;
}

// One query usually settles it: a name taken more than this many times is rare.
const CANDIDATE_BATCH = 50;

/**
 * A free username for `wanted` (§8.3 step 5): the normalised name if free, else the name with the lowest
 * positive suffix that is free (jsmith → jsmith1, jsmith2, …), shortening the base so the result fits.
 * "Free" is case-insensitive. It only reads: createUser retries when another transaction takes the name first.
 */
export async function deriveUniqueUsername(db: Knex, wanted: string): Promise<string> {
  const base = normaliseUsername(wanted);
  if (base === '') throw new MnetFault(FaultCode.InvalidInput, 'A username may not be empty');
  for (let first = 0; ; first += CANDIDATE_BATCH) {
    const candidates = Array.from({ length: CANDIDATE_BATCH }, (_, i) => withSuffix(base, first + i));
    const rows: Array<{ name: string }> = await db('users')
      .select(db.raw('lower(username) as name'))
      .whereRaw(`lower(username) in (${candidates.map(() => '?').join(', ')})`, candidates);
    const taken = new Set(rows.map((r) => r.name));
    const free = candidates.find((c) => !taken.has(c));
    if (free !== undefined) return free;
  }
}

const USERNAME_INDEX = 'users_username_lower_unique';
// Each retry sees the name the other transaction committed, so it only repeats under a burst of
// creations of the same name; more than this means something else is wrong.
const MAX_CREATE_ATTEMPTS = 5;

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}

/**
 * Creates an account under a fresh derived username, never an existing one: a remote "Admin" gets
 * "admin1", it does not take over the local "admin". When a concurrent transaction takes the same name
 * first, the insert fails on the unique index; it is retried (inside a savepoint, so a caller's
 * transaction survives) with the next free name.
 */
export async function createUser(db: Knex, user: NewUser, now: Date = new Date()): Promise<User> {
  for (let attempt = 1; ; attempt++) {
    const username = await deriveUniqueUsername(db, user.username);
    try {
      const [row] = await db.transaction((sp) =>
        sp<UserRow>('users')
          .insert({
            username,
            first_name: user.firstName ?? '',
            last_name: user.lastName ?? '',
            email: user.email ?? '',
            student_id: user.studentId ?? null,
            login_allowed: user.loginAllowed ?? true,
            created_by_peer_id: user.createdByPeerId ?? null,
            created_at: now,
            updated_at: now,
          })
          .returning('*'),
      );
      return toUser(row!);
    } catch (err) {
      if (!isUniqueViolation(err, USERNAME_INDEX) || attempt >= MAX_CREATE_ATTEMPTS) throw err;
    }
  }
}

/** Allows or suspends logins; undefined when there is no such user. */
export async function setLoginAllowed(db: Knex, userId: number, allowed: boolean, now: Date = new Date()): Promise<User | undefined> {
  const [row] = await db<UserRow>('users').where({ id: userId }).update({ login_allowed: allowed, updated_at: now }).returning('*');
  return row && toUser(row as UserRow);
}

/** Writes the given profile fields (all of them, changed or not); undefined when there is no such user. */
export async function updateUserProfile(db: Knex, userId: number, changes: UserProfileChanges, now: Date = new Date()): Promise<User | undefined> {
  const values = {
    ...(changes.firstName !== undefined ? { first_name: changes.firstName } : {}),
    ...(changes.lastName !== undefined ? { last_name: changes.lastName } : {}),
    ...(changes.email !== undefined ? { email: changes.email } : {}),
    ...(changes.studentId !== undefined ? { student_id: changes.studentId } : {}),
  };
  if (Object.keys(values).length === 0) return findUserById(db, userId);
  const [row] = await db<UserRow>('users')
    .where({ id: userId })
    .update({ ...values, updated_at: now })
    .returning('*');
  return row && toUser(row as UserRow);
}

/**
 * Takes the admin pages from a user, refusing (InvalidInput, shown to the admin) to withdraw them from
 * the admin asking, or from the last admin. The admins' rows are locked first, so two admins removing
 * each other at the same moment cannot leave the site without one: the second sees the first's change.
 */
export async function withdrawAdmin(db: Knex, userId: number, byUserId: number, now: Date = new Date()): Promise<User | undefined> {
  if (userId === byUserId) throw new MnetFault(FaultCode.InvalidInput, 'You cannot remove your own admin rights: ask another administrator to do it.');
  return db.transaction(async (trx) => {
    const admins: Array<{ id: number }> = await trx('users').where({ is_admin: true }).forUpdate().select('id');
    if (admins.length === 1 && admins[0]!.id === userId) {
      throw new MnetFault(FaultCode.InvalidInput, 'This is the last administrator: make someone else an admin first.');
    }
    const [row] = await trx<UserRow>('users').where({ id: userId }).update({ is_admin: false, updated_at: now }).returning('*');
    return row && toUser(row as UserRow);
  });
}
