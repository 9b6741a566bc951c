import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, endSession, endSessionsOfUser, extendSessions, findSession, hashUserAgent } from '../../../src/identity/sessions.js';
import { createUser, type User } from '../../../src/identity/users.js';
import { savePeer, type Peer } from '../../../src/mnet/peers.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { MOODLE_CERT } from '../../helpers/fixtures.js';

const T0 = new Date('2024-03-01T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const HOUR = 3600;

describe.each(engines)('sessions ($name)', (engine) => {
  let testDb: TestDb;
  let user: User;
  let other: User;
  let lms: Peer;

  beforeAll(async () => {
    testDb = await engine.create();
    user = await createUser(testDb.db, { username: 'alice' }, T0);
    other = await createUser(testDb.db, { username: 'bob' }, T0);
    lms = await savePeer(
      testDb.db,
      { wwwroot: 'https://lms.example.edu', name: 'LMS', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') },
      T0,
    );
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  const db = () => testDb.db;

  it('issues a 64-hex token, stores only its SHA-256, and finds the session until it expires', async () => {
    const { token, session } = await createSession(db(), { userId: user.id, userAgent: 'UA/1', now: T0, lifetimeSeconds: HOUR });
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const row = await db()('sessions').where({ id: session.id }).first();
    expect(row.token_sha256).toBe(crypto.createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(token);
    expect(session).toMatchObject({ userId: user.id, idpPeerId: null, remoteUsername: null, userAgentSha1: hashUserAgent('UA/1') });
    expect(session.expiresAt).toEqual(at(HOUR));
    expect((await findSession(db(), token, at(HOUR - 1)))?.id).toBe(session.id);
    expect(await findSession(db(), token, at(HOUR))).toBeUndefined();
  });

  it('finds nothing for an unknown or malformed token', async () => {
    expect(await findSession(db(), crypto.randomBytes(32).toString('hex'), T0)).toBeUndefined();
    expect(await findSession(db(), "' or 1=1 --", T0)).toBeUndefined();
    expect(await endSession(db(), 'nope')).toBe(false);
  });

  it('ends one session, or every session of a user', async () => {
    const a = await createSession(db(), { userId: user.id, now: T0, lifetimeSeconds: HOUR });
    const b = await createSession(db(), { userId: user.id, now: T0, lifetimeSeconds: HOUR });
    const c = await createSession(db(), { userId: other.id, now: T0, lifetimeSeconds: HOUR });
    expect(await endSession(db(), a.token)).toBe(true);
    expect(await findSession(db(), a.token, T0)).toBeUndefined();
    expect(await endSessionsOfUser(db(), user.id)).toBeGreaterThanOrEqual(1);
    expect(await findSession(db(), b.token, T0)).toBeUndefined();
    expect(await findSession(db(), c.token, T0)).toBeDefined();
    expect(await endSessionsOfUser(db(), user.id)).toBe(0);
  });

  it('extends the live SSO sessions of the named remote users from that IdP only (keepalive)', async () => {
    const sso = await createSession(db(), { userId: user.id, idpPeerId: lms.id, remoteUsername: 'Alice', now: T0, lifetimeSeconds: HOUR });
    const local = await createSession(db(), { userId: user.id, now: T0, lifetimeSeconds: HOUR });
    const otherUser = await createSession(db(), { userId: other.id, idpPeerId: lms.id, remoteUsername: 'bob', now: T0, lifetimeSeconds: HOUR });
    const expired = await createSession(db(), { userId: user.id, idpPeerId: lms.id, remoteUsername: 'alice', now: at(-2 * HOUR), lifetimeSeconds: HOUR });

    expect(await extendSessions(db(), { idpPeerId: lms.id, usernames: ['ALICE'], now: at(1800), lifetimeSeconds: HOUR })).toBe(1);
    expect((await findSession(db(), sso.token, at(1800)))!.expiresAt).toEqual(at(1800 + HOUR));
    expect((await findSession(db(), sso.token, at(1800)))!.lastSeenAt).toEqual(at(1800));
    expect((await findSession(db(), local.token, T0))!.expiresAt).toEqual(at(HOUR));
    expect((await findSession(db(), otherUser.token, T0))!.expiresAt).toEqual(at(HOUR));
    expect(await findSession(db(), expired.token, at(1800))).toBeUndefined();

    // Never shortens: a short lifetime leaves the later expiry alone.
    expect(await extendSessions(db(), { idpPeerId: lms.id, usernames: ['alice'], now: at(1900), lifetimeSeconds: 60 })).toBe(1);
    expect((await findSession(db(), sso.token, at(1900)))!.expiresAt).toEqual(at(1800 + HOUR));
    expect(await extendSessions(db(), { idpPeerId: lms.id, usernames: [], now: at(1900), lifetimeSeconds: HOUR })).toBe(0);
  });

  it('goes away with its user', async () => {
    const gone = await createUser(db(), { username: 'carol' }, T0);
    const { token } = await createSession(db(), { userId: gone.id, now: T0, lifetimeSeconds: HOUR });
    await db()('users').where({ id: gone.id }).delete();
    expect(await findSession(db(), token, T0)).toBeUndefined();
  });
});
