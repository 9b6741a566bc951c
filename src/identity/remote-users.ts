import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import type { Peer } from '../mnet/peers.js';
import { createUser, findUserById, toUser, updateUserProfile, type User, type UserProfileChanges, type UserRow } from './users.js';

/**
 * Who a peer's user is here: Mahara's auth_remote_user mapping (§9.1), (peer, remote username) → user,
 * plus the shared idnumber (§10) that SSO and SchoolTool both use to recognise one person.
 */

/** The user record a peer sends (user_authorise §8.4, SchoolTool fetch_user §10), reduced to what we keep. */
export interface RemoteProfile {
  /** Exactly as the peer sent it. */
  username: string;
  firstname: string;
  lastname: string;
  email: string;
  /** The shared idnumber; empty or absent means "not sent" (Moodle sends it only if an admin adds it). */
  idnumber?: string | null;
}

export interface FindOrCreateOptions {
  /** Create (or link by idnumber) an unknown user: the peer's weautocreateusers, or SchoolTool's fetch_user. */
  create: boolean;
  /** Apply changed names, email and idnumber to a known user: the peer's updateuserinfoonlogin. */
  updateProfile: boolean;
  /**
   * The caller vouches that its idnumbers are unique (SchoolTool's fetch_user: the school's own ids).
   * Only then does a new username whose idnumber this peer already gave someone become that person
   * (renamed). Moodle does not keep idnumbers unique, so an SSO landing never does: that would hand one
   * account to another user with the same idnumber.
   */
  linkByIdnumber?: boolean;
  /** For a created account; default true. */
  loginAllowed?: boolean;
  now?: Date;
  /** Where an ambiguous cross-peer idnumber is reported. */
  log?: Logger;
}

export interface RemoteUserResult {
  readonly user: User;
  /** True only when a new account was made (not when found, nor when linked by idnumber). */
  readonly created: boolean;
}

interface MappingRow {
  peer_id: number;
  remote_username: string;
  user_id: number;
  idnumber: string | null;
}

// remote_users.remote_username is varchar(255).
const REMOTE_USERNAME_MAX_LENGTH = 255;

function selectMappedUsers(db: Knex, peerId: number) {
  return db<UserRow>('users').join('remote_users', 'remote_users.user_id', 'users.id').where('remote_users.peer_id', peerId).select('users.*');
}

/** The user a peer's username maps to, compared case-insensitively (§8.3 a); never a local account of the same name. */
export async function findRemoteUser(db: Knex, peer: Pick<Peer, 'id'>, remoteUsername: string): Promise<User | undefined> {
  const row = await selectMappedUsers(db, peer.id).whereRaw('lower(remote_users.remote_username) = lower(?)', [remoteUsername]).first();
  return row && toUser(row);
}

/** The user linked to this peer by the shared idnumber (§10); exact match, as the unique index is. */
export async function findUserByIdnumber(db: Knex, peer: Pick<Peer, 'id'>, idnumber: string): Promise<User | undefined> {
  const row = await selectMappedUsers(db, peer.id).where('remote_users.idnumber', idnumber).first();
  return row && toUser(row);
}

/** How a peer knows one of our users: a `remote_users` row with its peer. */
export interface RemoteIdentity {
  readonly peerId: number;
  readonly peerName: string;
  readonly wwwroot: string;
  /** The peer was deleted: the identity is kept but no longer used. */
  readonly peerDeleted: boolean;
  readonly remoteUsername: string;
  readonly idnumber: string | null;
}

/** Every peer identity of a user, by peer wwwroot (the admin's user page). */
export async function listRemoteIdentities(db: Knex, userId: number): Promise<RemoteIdentity[]> {
  const rows: Array<{ peer_id: number; name: string; wwwroot: string; deleted: boolean; remote_username: string; idnumber: string | null }> = await db('remote_users')
    .join('peers', 'peers.id', 'remote_users.peer_id')
    .where('remote_users.user_id', userId)
    .orderBy(['peers.wwwroot', 'remote_users.remote_username'])
    .select('remote_users.peer_id', 'peers.name', 'peers.wwwroot', 'peers.deleted', 'remote_users.remote_username', 'remote_users.idnumber');
  return rows.map((r) => ({
    peerId: r.peer_id,
    peerName: r.name,
    wwwroot: r.wwwroot,
    peerDeleted: r.deleted,
    remoteUsername: r.remote_username,
    idnumber: r.idnumber,
  }));
}

/**
 * Resolves a landing or SchoolTool user (§8.3 steps 3–6): the mapping row for the username; else, when
 * `create`, the user already linked by the same idnumber (one person = one account: with this peer, or
 * across a paired peer, see findUserOfPairedPeer) or a new account under a derived username.
 * Throws fault 0 `Could not find user <u> for <wwwroot>` when unknown and `create` is off, writing
 * nothing. All in one transaction.
 */
export async function findOrCreateRemoteUser(
  db: Knex,
  peer: Pick<Peer, 'id' | 'wwwroot'>,
  profile: RemoteProfile,
  options: FindOrCreateOptions,
): Promise<RemoteUserResult> {
  if (profile.username.trim() === '' || profile.username.length > REMOTE_USERNAME_MAX_LENGTH) {
    throw new MnetFault(FaultCode.Application, `Could not find user ${profile.username} for ${peer.wwwroot}`);
  }
  const now = options.now ?? new Date();
  const idnumber = profile.idnumber ? profile.idnumber : null;
  return db.transaction(async (trx) => {
    // Two landings of the same new user (two tabs, a double click) must not create two accounts: the
    // second waits here until the first commits, then finds its mapping row.
    await lockName(trx, peer.id, 'username', profile.username);
    const mapping = await trx<MappingRow>('remote_users')
      .where('peer_id', peer.id)
      .whereRaw('lower(remote_username) = lower(?)', [profile.username])
      .first();
    if (mapping) {
      const user = (await findUserById(trx, mapping.user_id))!;
      if (!options.updateProfile) return { user, created: false };
      return { user: await applyProfile(trx, peer, mapping, user, profile, idnumber, now), created: false };
    }
    if (!options.create) throw new MnetFault(FaultCode.Application, `Could not find user ${profile.username} for ${peer.wwwroot}`);

    if (idnumber !== null) {
      await lockName(trx, peer.id, 'idnumber', idnumber);
      const holder = await trx<MappingRow>('remote_users').where({ peer_id: peer.id, idnumber }).first();
      if (holder && !options.linkByIdnumber) {
        throw new MnetFault(FaultCode.Application, `The idnumber of user ${profile.username} for ${peer.wwwroot} belongs to another user`);
      }
      // The peer knows this person under another username (renamed): the idnumber moves to the username
      // the peer uses now; the old row keeps resolving.
      if (holder) await trx('remote_users').where({ peer_id: peer.id, remote_username: holder.remote_username }).update({ idnumber: null });
      const linkTo = holder?.user_id ?? (await findUserOfPairedPeer(trx, peer, idnumber, options.log));
      if (linkTo !== undefined) {
        const linked: MappingRow = { peer_id: peer.id, remote_username: profile.username, user_id: linkTo, idnumber };
        await trx('remote_users').insert(linked);
        const user = (await findUserById(trx, linkTo))!;
        if (!options.updateProfile) return { user, created: false };
        return { user: await applyProfile(trx, peer, linked, user, profile, idnumber, now), created: false };
      }
    }

    const user = await createUser(
      trx,
      {
        username: profile.username,
        firstName: profile.firstname,
        lastName: profile.lastname,
        email: profile.email,
        studentId: idnumber,
        loginAllowed: options.loginAllowed ?? true,
        createdByPeerId: peer.id,
      },
      now,
    );
    await trx('remote_users').insert({ peer_id: peer.id, remote_username: profile.username, user_id: user.id, idnumber });
    return { user, created: true };
  });
}

/**
 * updateuserinfoonlogin (§8.3 step 6): overwrite names and email when they differ; a sent idnumber
 * becomes the student id and moves to this mapping row. An idnumber already linked to another user of
 * this peer is refused rather than moved: that would hand one person's link to someone else.
 */
async function applyProfile(
  trx: Knex.Transaction,
  peer: Pick<Peer, 'id' | 'wwwroot'>,
  mapping: MappingRow,
  user: User,
  profile: RemoteProfile,
  idnumber: string | null,
  now: Date,
): Promise<User> {
  // A person linked from another peer's account keeps that peer's names and email: a linking peer must
  // not rewrite someone else's profile. Only the peer that created the account (or none) updates it.
  const owns = user.createdByPeerId === null || user.createdByPeerId === peer.id;
  const changes: UserProfileChanges = {
    ...(owns && profile.firstname !== user.firstName ? { firstName: profile.firstname } : {}),
    ...(owns && profile.lastname !== user.lastName ? { lastName: profile.lastname } : {}),
    ...(owns && profile.email !== user.email ? { email: profile.email } : {}),
    ...(owns && idnumber !== null && idnumber !== user.studentId ? { studentId: idnumber } : {}),
  };
  if (idnumber !== null && idnumber !== mapping.idnumber) {
    await lockName(trx, peer.id, 'idnumber', idnumber);
    const holder = await trx<MappingRow>('remote_users').where({ peer_id: peer.id, idnumber }).first();
    if (holder && holder.user_id !== user.id) {
      throw new MnetFault(FaultCode.Application, `The idnumber of user ${profile.username} for ${peer.wwwroot} belongs to another user`);
    }
    if (holder) await trx('remote_users').where({ peer_id: peer.id, remote_username: holder.remote_username }).update({ idnumber: null });
    await trx('remote_users').where({ peer_id: peer.id, remote_username: mapping.remote_username }).update({ idnumber });
  }
  if (Object.keys(changes).length === 0) return user;
  return (await updateUserProfile(trx, user.id, changes, now))!;
}

/**
 * Cross-peer identity (§10; the SchoolTool issue: "a student who exported from Moodle and the SchoolTool
 * record with the same idnumber are one user"). An idnumber names one person only between peers an admin
 * paired (a SchoolTool site and the Moodle it is integrated with, peer-settings.ts pairPeers): a new
 * identity from one is linked to the account the other maps with that student id, in either order.
 * Unpaired peers never link, so no peer can claim an account by sending its idnumber; a purely local
 * account is never a candidate either. Several candidates are ambiguous: no link, a warning, and the
 * caller creates an account as usual.
 */
async function findUserOfPairedPeer(trx: Knex.Transaction, peer: Pick<Peer, 'id' | 'wwwroot'>, idnumber: string, log?: Logger): Promise<number | undefined> {
  const row: { paired_peer_id: number | null } | undefined = await trx('peers').where({ id: peer.id }).first('paired_peer_id');
  const partner = row?.paired_peer_id ?? null;
  if (partner === null) return undefined;
  // The pair's idnumber: both sides serialise on it, so two first contacts cannot make two accounts.
  await lockName(trx, Math.min(peer.id, partner), 'idnumber', `pair ${Math.max(peer.id, partner)} ${idnumber}`);
  const users: Array<{ id: number }> = await trx('users')
    .distinct('users.id')
    .join('remote_users', 'remote_users.user_id', 'users.id')
    .where({ 'users.student_id': idnumber, 'remote_users.peer_id': partner })
    .limit(2);
  if (users.length === 1) return users[0]!.id;
  if (users.length > 1) log?.warn('several users of the paired peer have this student id; creating a new account', { peer: peer.wwwroot, idnumber });
  return undefined;
}

// First key of our advisory locks on remote identities ("RUSR"), so they cannot meet other modules' locks.
const REMOTE_USER_LOCK = 0x52555352;

/**
 * Serialises transactions about one (peer, name) until commit; hash collisions only serialise more.
 * Usernames are compared with PostgreSQL's lower() (the unique index), so they are lowered there too:
 * JavaScript's toLowerCase differs for a few characters.
 */
async function lockName(trx: Knex.Transaction, peerId: number, kind: 'username' | 'idnumber', name: string): Promise<void> {
  const key = `${peerId}\n${kind}\n`;
  if (kind === 'username') await trx.raw('select pg_advisory_xact_lock(?, hashtext(? || lower(?)))', [REMOTE_USER_LOCK, key, name]);
  else await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [REMOTE_USER_LOCK, key + name]);
}
