import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import {
  createUser,
  deriveUniqueUsername,
  findUserById,
  findUserByUsername,
  listUsers,
  normaliseUsername,
  setLoginAllowed,
  updateUserProfile,
  USERNAME_MAX_LENGTH,
} from '../../../src/identity/users.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { faultOf } from '../../helpers/faults.js';

/** Local accounts and username derivation (§8.3 step 5: lower-cased, lowest free numeric suffix). */
const T0 = new Date('2024-03-01T10:00:00Z');
const T1 = new Date('2024-03-02T10:00:00Z');

describe('normaliseUsername', () => {
  it('lower-cases and keeps [a-z0-9_.@-]', () => {
    expect(normaliseUsername('J.Smith-2@Example.edu_x')).toBe('j.smith-2@example.edu_x');
  });

  it('replaces every other character, one "_" per character', () => {
    expect(normaliseUsername('José Smith/😀')).toBe('jos__smith__');
  });

  it(`cuts to ${USERNAME_MAX_LENGTH} characters`, () => {
    expect(normaliseUsername('A'.repeat(150))).toBe('a'.repeat(USERNAME_MAX_LENGTH));
  });
});

describe.each(engines)('users ($name)', (engine) => {
  let testDb: TestDb;

  beforeAll(async () => {
    testDb = await engine.create();
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  const db = () => testDb.db;
  const usernames = async (prefix: string) =>
    (await db()('users').whereRaw('lower(username) like ?', [`${prefix}%`]).orderBy('id').pluck('username')) as string[];

  it('creates a user with the Mahara defaults: 50 MiB quota, none used, login allowed, local', async () => {
    const user = await createUser(db(), { username: 'defaults', firstName: 'De', lastName: 'Fault', email: 'd@example.edu' }, T0);
    expect(user).toMatchObject({
      username: 'defaults',
      firstName: 'De',
      lastName: 'Fault',
      email: 'd@example.edu',
      studentId: null,
      quota: 52428800,
      quotaUsed: 0,
      loginAllowed: true,
      createdByPeerId: null,
    });
    expect(user.createdAt).toEqual(T0);
    expect(user.updatedAt).toEqual(T0);
    expect(await findUserById(db(), user.id)).toEqual(user);
  });

  it('takes the lowest free suffix: jsmith, jsmith1, jsmith2 taken → jsmith3', async () => {
    for (const expected of ['jsmith', 'jsmith1', 'jsmith2']) {
      expect((await createUser(db(), { username: 'jsmith' })).username).toBe(expected);
    }
    expect(await deriveUniqueUsername(db(), 'jsmith')).toBe('jsmith3');
    expect((await createUser(db(), { username: 'JSmith' })).username).toBe('jsmith3');
  });

  it('fills a gap before going higher', async () => {
    for (const name of ['gap', 'gap1', 'gap2']) await createUser(db(), { username: name });
    await db()('users').where({ username: 'gap1' }).delete();
    expect(await deriveUniqueUsername(db(), 'gap')).toBe('gap1');
  });

  it('treats names that differ only in case as taken, including stored mixed-case names', async () => {
    // A row written around createUser (e.g. imported) may keep capitals; it still blocks its lower-case twin.
    await db()('users').insert({ username: 'MixedCase', created_at: T0, updated_at: T0 });
    expect(await deriveUniqueUsername(db(), 'MIXEDCASE')).toBe('mixedcase1');
    await expect(db()('users').insert({ username: 'mixedCASE', created_at: T0, updated_at: T0 })).rejects.toMatchObject({ code: '23505' });
  });

  it('never reuses an existing account: a second "Admin" gets admin1 and admin is untouched', async () => {
    const admin = await createUser(db(), { username: 'admin', firstName: 'Site', lastName: 'Admin' });
    const other = await createUser(db(), { username: 'Admin', firstName: 'Mallory' });
    expect(other.username).toBe('admin1');
    expect(other.id).not.toBe(admin.id);
    expect(await findUserById(db(), admin.id)).toEqual(admin);
  });

  it('replaces characters outside [a-z0-9_.@-] before looking for a free name', async () => {
    expect((await createUser(db(), { username: 'Ann Lee' })).username).toBe('ann_lee');
    expect((await createUser(db(), { username: 'ann/lee' })).username).toBe('ann_lee1');
  });

  it('shortens the base so a suffixed name stays within 100 characters', async () => {
    const long = 'L'.repeat(120);
    expect((await createUser(db(), { username: long })).username).toBe('l'.repeat(100));
    expect((await createUser(db(), { username: long })).username).toBe('l'.repeat(99) + '1');
    expect(await deriveUniqueUsername(db(), long)).toBe('l'.repeat(99) + '2');
  });

  it('keeps counting past the first batch of candidates', async () => {
    const rows = Array.from({ length: 60 }, (_, n) => ({ username: n === 0 ? 'many' : `many${n}`, created_at: T0, updated_at: T0 }));
    await db()('users').insert(rows);
    expect(await deriveUniqueUsername(db(), 'many')).toBe('many60');
  });

  it('refuses an empty username with InvalidInput', async () => {
    expect(await faultOf(createUser(db(), { username: '' }))).toBe(FaultCode.InvalidInput);
  });

  it('gives concurrent creations of one name distinct names instead of failing on the unique index', async () => {
    const created = await Promise.all(Array.from({ length: 5 }, () => createUser(db(), { username: 'race' })));
    expect(created.map((u) => u.username).sort()).toEqual(['race', 'race1', 'race2', 'race3', 'race4']);
    expect(await usernames('race')).toHaveLength(5);
  });

  it('finds users by username case-insensitively', async () => {
    const user = await createUser(db(), { username: 'casey' });
    expect((await findUserByUsername(db(), 'CaSeY'))?.id).toBe(user.id);
    expect(await findUserByUsername(db(), 'casey1')).toBeUndefined();
    expect(await findUserById(db(), 999_999)).toBeUndefined();
  });

  it('suspends and restores logins', async () => {
    const user = await createUser(db(), { username: 'suspended' }, T0);
    const denied = await setLoginAllowed(db(), user.id, false, T1);
    expect(denied).toMatchObject({ loginAllowed: false, updatedAt: T1 });
    expect((await findUserById(db(), user.id))?.loginAllowed).toBe(false);
    expect((await setLoginAllowed(db(), user.id, true))?.loginAllowed).toBe(true);
    expect(await setLoginAllowed(db(), 999_999, false)).toBeUndefined();
  });

  it('updates only the profile fields given', async () => {
    const user = await createUser(db(), { username: 'profile', firstName: 'Pro', lastName: 'File', email: 'p@example.edu' }, T0);
    const updated = await updateUserProfile(db(), user.id, { lastName: 'Filed', studentId: 'S-42' }, T1);
    expect(updated).toMatchObject({ firstName: 'Pro', lastName: 'Filed', email: 'p@example.edu', studentId: 'S-42', updatedAt: T1 });
    expect(await updateUserProfile(db(), user.id, {})).toEqual(updated);
    expect(await updateUserProfile(db(), 999_999, { email: 'x@example.edu' })).toBeUndefined();
  });

  it('lists users by username', async () => {
    const names = (await listUsers(db())).map((u) => u.username);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('admin1');
  });
});
