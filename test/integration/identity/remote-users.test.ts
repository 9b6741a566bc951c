import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { findOrCreateRemoteUser, findRemoteUser, findUserByIdnumber, type RemoteProfile } from '../../../src/identity/remote-users.js';
import { createUser, findUserById } from '../../../src/identity/users.js';
import { savePeer, type Peer } from '../../../src/mnet/peers.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MAHARA_CERT, MOODLE_CERT } from '../../helpers/fixtures.js';
import { faultOf } from '../../helpers/faults.js';

/** The (peer, remote username) → user mapping and the shared idnumber (§7.3, §8.3, §9.1 auth_remote_user, §10). */
const T0 = new Date('2024-03-01T10:00:00Z');
const T1 = new Date('2024-03-02T10:00:00Z');
const CREATE = { create: true, updateProfile: false, now: T0 } as const;
const FIND = { create: false, updateProfile: false } as const;

function profile(username: string, extra: Partial<RemoteProfile> = {}): RemoteProfile {
  return { username, firstname: 'Jo', lastname: 'Smith', email: `${username.toLowerCase()}@lms.example.edu`, ...extra };
}

async function addPeer(db: Knex, wwwroot: string, pem: string): Promise<Peer> {
  return savePeer(db, { wwwroot, name: wwwroot, application: 'moodle', publicKeyPem: pem, publicKeyExpires: new Date('2099-01-01') }, T0);
}

async function countRows(db: Knex): Promise<{ users: number; mappings: number }> {
  const [users] = await db('users').count({ n: '*' });
  const [mappings] = await db('remote_users').count({ n: '*' });
  return { users: Number(users!.n), mappings: Number(mappings!.n) };
}

describe.each(engines)('remote users ($name)', (engine) => {
  let testDb: TestDb;
  let lms: Peer;
  let other: Peer;

  beforeAll(async () => {
    testDb = await engine.create();
    lms = await addPeer(testDb.db, 'https://lms.example.edu', MOODLE_CERT);
    other = await addPeer(testDb.db, 'https://other.example.edu', MAHARA_CERT);
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  const db = () => testDb.db;
  const mappingsOf = (userId: number) => db()('remote_users').where({ user_id: userId }).orderBy('remote_username').select('peer_id', 'remote_username', 'idnumber');

  describe('creating', () => {
    it('creates a lower-cased user and a mapping row with the username exactly as sent', async () => {
      const { user, created } = await findOrCreateRemoteUser(db(), lms, profile('JSmith', { firstname: 'Jo', idnumber: 'ID-1' }), CREATE);
      expect(created).toBe(true);
      expect(user).toMatchObject({ username: 'jsmith', firstName: 'Jo', lastName: 'Smith', email: 'jsmith@lms.example.edu', studentId: 'ID-1', createdByPeerId: lms.id, loginAllowed: true });
      expect(user.createdAt).toEqual(T0);
      expect(await mappingsOf(user.id)).toEqual([{ peer_id: lms.id, remote_username: 'JSmith', idnumber: 'ID-1' }]);
    });

    it('finds the mapping case-insensitively: JSMITH and jsmith are the same remote user', async () => {
      const first = await findRemoteUser(db(), lms, 'JSmith');
      expect(first?.username).toBe('jsmith');
      expect((await findRemoteUser(db(), lms, 'jsmith'))?.id).toBe(first!.id);
      const again = await findOrCreateRemoteUser(db(), lms, profile('JSMITH'), CREATE);
      expect(again).toMatchObject({ created: false, user: { id: first!.id } });
      expect(await mappingsOf(first!.id)).toHaveLength(1);
    });

    it('keeps mappings per peer: the same username from another peer is another person', async () => {
      expect(await findRemoteUser(db(), other, 'jsmith')).toBeUndefined();
      const { user, created } = await findOrCreateRemoteUser(db(), other, profile('jsmith'), CREATE);
      expect(created).toBe(true);
      expect(user.username).toBe('jsmith1');
      expect(user.createdByPeerId).toBe(other.id);
    });

    it('never takes over a local account: a remote "Admin" gets admin1, and the local admin is not found through any peer', async () => {
      const admin = await createUser(db(), { username: 'admin', firstName: 'Site' });
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('Admin'), CREATE);
      expect(user.username).toBe('admin1');
      expect(user.id).not.toBe(admin.id);
      expect((await findRemoteUser(db(), lms, 'admin'))?.id).toBe(user.id);
      expect(await findRemoteUser(db(), other, 'admin')).toBeUndefined();
      expect(await findUserById(db(), admin.id)).toEqual(admin);
    });

    it('sets loginAllowed on a created account when asked', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('pending'), { ...CREATE, loginAllowed: false });
      expect(user.loginAllowed).toBe(false);
    });

    it('treats an empty idnumber as not sent', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('noid', { idnumber: '' }), CREATE);
      expect(user.studentId).toBeNull();
      expect(await mappingsOf(user.id)).toEqual([{ peer_id: lms.id, remote_username: 'noid', idnumber: null }]);
    });
  });

  describe('when creation is not allowed', () => {
    it('throws fault 0 "Could not find user <u> for <wwwroot>" and writes nothing', async () => {
      const before = await countRows(db());
      const err = await findOrCreateRemoteUser(db(), lms, profile('stranger', { idnumber: 'ID-NEW' }), FIND).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MnetFault);
      expect((err as MnetFault).code).toBe(FaultCode.Application);
      expect((err as MnetFault).message).toBe('Could not find user stranger for https://lms.example.edu');
      expect(await countRows(db())).toEqual(before);
    });

    it('still finds a known user', async () => {
      expect(await findOrCreateRemoteUser(db(), lms, profile('jSmItH'), FIND)).toMatchObject({ created: false, user: { username: 'jsmith' } });
    });

    it('does not link by idnumber either', async () => {
      const before = await countRows(db());
      const err = await findOrCreateRemoteUser(db(), lms, profile('renamed-jsmith', { idnumber: 'ID-1' }), FIND).catch((e: unknown) => e);
      expect((err as MnetFault).code).toBe(FaultCode.Application);
      expect(await countRows(db())).toEqual(before);
    });

    it('refuses an empty username with fault 0', async () => {
      const err = await findOrCreateRemoteUser(db(), lms, profile(' '), CREATE).catch((e: unknown) => e);
      expect((err as MnetFault).code).toBe(FaultCode.Application);
    });
  });

  describe('the shared idnumber', () => {
    it('refuses a new remote username whose idnumber this peer already gave another user, unless the caller vouches (SSO never does)', async () => {
      const first = await findOrCreateRemoteUser(db(), lms, profile('dup-1', { idnumber: 'DUP' }), CREATE);
      const before = await countRows(db());
      expect(await faultOf(findOrCreateRemoteUser(db(), lms, profile('dup-2', { idnumber: 'DUP' }), CREATE))).toBe(FaultCode.Application);
      expect(await countRows(db())).toEqual(before);
      expect((await findUserByIdnumber(db(), lms, 'DUP'))?.id).toBe(first.user.id);
    });

    it('with linkByIdnumber, links a new remote username to the user who already has that idnumber with this peer', async () => {
      const first = await findOrCreateRemoteUser(db(), lms, profile('st-1001', { idnumber: 'S-1001' }), CREATE);
      const before = await countRows(db());
      const linked = await findOrCreateRemoteUser(db(), lms, profile('ann.lee', { idnumber: 'S-1001' }), { ...CREATE, linkByIdnumber: true });
      expect(linked).toMatchObject({ created: false, user: { id: first.user.id, username: 'st-1001' } });
      expect(await countRows(db())).toEqual({ users: before.users, mappings: before.mappings + 1 });
      // The idnumber moves to the username the peer uses now; the old one keeps resolving.
      expect(await mappingsOf(first.user.id)).toEqual([
        { peer_id: lms.id, remote_username: 'ann.lee', idnumber: 'S-1001' },
        { peer_id: lms.id, remote_username: 'st-1001', idnumber: null },
      ]);
      expect((await findRemoteUser(db(), lms, 'st-1001'))?.id).toBe(first.user.id);
      expect((await findUserByIdnumber(db(), lms, 'S-1001'))?.id).toBe(first.user.id);
    });

    it('is per peer: the same idnumber from another peer is not a link', async () => {
      expect(await findUserByIdnumber(db(), other, 'S-1001')).toBeUndefined();
      const { user, created } = await findOrCreateRemoteUser(db(), other, profile('ann.lee', { idnumber: 'S-1001' }), CREATE);
      expect(created).toBe(true);
      expect(user.username).toBe('ann.lee');
    });

    it('applies the profile of a linked user when updateProfile is on', async () => {
      const linked = await findOrCreateRemoteUser(
        db(),
        lms,
        profile('ann.lee2', { firstname: 'Ann', lastname: 'Lee', idnumber: 'S-1001' }),
        { create: true, updateProfile: true, linkByIdnumber: true, now: T1 },
      );
      expect(linked).toMatchObject({ created: false, user: { username: 'st-1001', firstName: 'Ann', lastName: 'Lee', studentId: 'S-1001', updatedAt: T1 } });
      expect((await findUserByIdnumber(db(), lms, 'S-1001'))?.id).toBe(linked.user.id);
    });

    it('is unique per (peer, idnumber) in the database', async () => {
      const a = await createUser(db(), { username: 'uniq-a' });
      const b = await createUser(db(), { username: 'uniq-b' });
      await db()('remote_users').insert({ peer_id: lms.id, remote_username: 'uniq-a', user_id: a.id, idnumber: 'U-1' });
      await expect(db()('remote_users').insert({ peer_id: lms.id, remote_username: 'uniq-b', user_id: b.id, idnumber: 'U-1' })).rejects.toMatchObject({ code: '23505' });
      // Another peer may use the same idnumber, and any number of rows may have none.
      await db()('remote_users').insert({ peer_id: other.id, remote_username: 'uniq-b', user_id: b.id, idnumber: 'U-1' });
      await db()('remote_users').insert([
        { peer_id: lms.id, remote_username: 'uniq-b', user_id: b.id, idnumber: null },
        { peer_id: lms.id, remote_username: 'uniq-b-old', user_id: b.id, idnumber: null },
      ]);
    });

    it('is unique per (peer, lower(remote username)) in the database', async () => {
      const user = await createUser(db(), { username: 'dup' });
      await db()('remote_users').insert({ peer_id: lms.id, remote_username: 'Dup', user_id: user.id });
      await expect(db()('remote_users').insert({ peer_id: lms.id, remote_username: 'DUP', user_id: user.id })).rejects.toMatchObject({ code: '23505' });
    });
  });

  describe('updateProfile', () => {
    it('off: a known user keeps names, email and student id', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('keeper', { idnumber: 'K-1' }), CREATE);
      const again = await findOrCreateRemoteUser(db(), lms, profile('keeper', { firstname: 'New', lastname: 'Name', email: 'new@x.edu', idnumber: 'K-2' }), {
        create: true,
        updateProfile: false,
        now: T1,
      });
      expect(again).toEqual({ user, created: false });
      expect(await findUserById(db(), user.id)).toEqual(user);
      expect(await mappingsOf(user.id)).toEqual([{ peer_id: lms.id, remote_username: 'keeper', idnumber: 'K-1' }]);
    });

    it('on: changed names, email and idnumber are written (student id and mapping)', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('changer'), CREATE);
      const updated = await findOrCreateRemoteUser(db(), lms, profile('Changer', { firstname: 'Cha', lastname: 'Nger', email: 'c@x.edu', idnumber: 'C-1' }), {
        create: false,
        updateProfile: true,
        now: T1,
      });
      expect(updated.created).toBe(false);
      expect(updated.user).toMatchObject({ id: user.id, username: 'changer', firstName: 'Cha', lastName: 'Nger', email: 'c@x.edu', studentId: 'C-1', updatedAt: T1 });
      expect(await mappingsOf(user.id)).toEqual([{ peer_id: lms.id, remote_username: 'changer', idnumber: 'C-1' }]);
    });

    it('on: nothing changed means nothing written', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('steady', { idnumber: 'ST-1' }), CREATE);
      const again = await findOrCreateRemoteUser(db(), lms, profile('steady', { idnumber: 'ST-1' }), { create: false, updateProfile: true, now: T1 });
      expect(again.user).toEqual(user);
    });

    it('on: an absent idnumber leaves the student id alone', async () => {
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('quiet', { idnumber: 'Q-1' }), CREATE);
      const again = await findOrCreateRemoteUser(db(), lms, profile('quiet', { email: 'q@x.edu' }), { create: false, updateProfile: true, now: T1 });
      expect(again.user).toMatchObject({ email: 'q@x.edu', studentId: 'Q-1' });
      expect(await mappingsOf(user.id)).toEqual([{ peer_id: lms.id, remote_username: 'quiet', idnumber: 'Q-1' }]);
    });

    it("on: an idnumber that belongs to another user of this peer is refused with fault 0, and nothing changes", async () => {
      await findOrCreateRemoteUser(db(), lms, profile('holder', { idnumber: 'H-1' }), CREATE);
      const { user } = await findOrCreateRemoteUser(db(), lms, profile('taker'), CREATE);
      const err = await findOrCreateRemoteUser(db(), lms, profile('taker', { firstname: 'Changed', idnumber: 'H-1' }), { create: false, updateProfile: true }).catch(
        (e: unknown) => e,
      );
      expect((err as MnetFault).code).toBe(FaultCode.Application);
      expect(await findUserById(db(), user.id)).toEqual(user);
      expect((await findUserByIdnumber(db(), lms, 'H-1'))?.username).toBe('holder');
    });
  });

  describe('deleting', () => {
    it("deleting a user deletes its mapping rows; deleting a peer deletes its rows and keeps the users", async () => {
      const temp = await addPeer(db(), 'https://temp.example.edu', MOODLE_CERT);
      const gone = await findOrCreateRemoteUser(db(), temp, profile('gone'), CREATE);
      const stays = await findOrCreateRemoteUser(db(), temp, profile('stays'), CREATE);
      await db()('users').where({ id: gone.user.id }).delete();
      expect(await mappingsOf(gone.user.id)).toEqual([]);
      await db()('peers').where({ id: temp.id }).delete();
      expect(await mappingsOf(stays.user.id)).toEqual([]);
      expect(await findUserById(db(), stays.user.id)).toMatchObject({ username: 'stays', createdByPeerId: null });
    });
  });

  // PGlite has one connection, so only PostgreSQL can run these transactions side by side (style.md).
  describe.runIf(engine.name === 'postgresql')('concurrently', () => {
    it('two landings of the same new user end with one user and one mapping', async () => {
      const results = await Promise.all([
        findOrCreateRemoteUser(db(), lms, profile('Racer'), CREATE),
        findOrCreateRemoteUser(db(), lms, profile('racer'), CREATE),
      ]);
      expect(results.map((r) => r.created).sort()).toEqual([false, true]);
      expect(results[0]!.user.id).toBe(results[1]!.user.id);
      expect(await db()('users').whereRaw("username like 'racer%'").pluck('username')).toEqual(['racer']);
      expect(await mappingsOf(results[0]!.user.id)).toHaveLength(1);
    });

    it('the same name from two peers at once gives two users, neither failing on the unique index', async () => {
      const [a, b] = await Promise.all([
        findOrCreateRemoteUser(db(), lms, profile('twin'), CREATE),
        findOrCreateRemoteUser(db(), other, profile('twin'), CREATE),
      ]);
      expect([a!.user.username, b!.user.username].sort()).toEqual(['twin', 'twin1']);
    });

    it('two new usernames with one idnumber at once end with one user', async () => {
      const results = await Promise.all([
        findOrCreateRemoteUser(db(), lms, profile('one-a', { idnumber: 'ONE' }), { ...CREATE, linkByIdnumber: true }),
        findOrCreateRemoteUser(db(), lms, profile('one-b', { idnumber: 'ONE' }), { ...CREATE, linkByIdnumber: true }),
      ]);
      expect(results.map((r) => r.created).sort()).toEqual([false, true]);
      expect(results[0]!.user.id).toBe(results[1]!.user.id);
      expect(await mappingsOf(results[0]!.user.id)).toHaveLength(2);
    });
  });
});
