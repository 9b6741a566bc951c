/**
 * KeyStore (§5.1, §5.2): our key pair and its history, in the database shared by every instance.
 * Checklist 26, 27 (the certificate), 32 (lazy rotation, history of 6). The clock is injected, so "expiry"
 * is a matter of moving it.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { canonicalCertificatePem, generateKeyPair, parseCertificate } from '../../../src/mnet/certificate.js';
import { KeyStore, type SiteKey } from '../../../src/mnet/keys.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { fixtureText, MAHARA_WWWROOT } from '../../helpers/fixtures.js';

// Counts key generations (the real function still runs).
vi.mock('../../../src/mnet/certificate.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/mnet/certificate.js')>();
  return { ...original, generateKeyPair: vi.fn(original.generateKeyPair) };
});

const DAY_MS = 86_400_000;
const T0 = new Date('2030-03-01T09:00:00Z');
const SUBJECT = { country: 'NZ', province: 'Wellington', locality: 'Te Aro', organisation: 'Test Mahara', email: 'noreply@mahara.test' };
/** OpenSSL's PEM: LF line ends, full lines of 64 base64 characters, a last line of 1–64, one trailing LF. */
const CANONICAL_PEM = /^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/;

interface KeyRow {
  id: number;
  certificate_pem: string;
  retired_at: Date | null;
}

describe.each(engines)('KeyStore ($name)', (engine) => {
  let testDb: TestDb;
  let now = T0;

  beforeAll(async () => {
    testDb = await engine.create();
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  beforeEach(async () => {
    await testDb.db('site_keys').delete();
    now = T0;
  });

  /** A KeyStore as one instance of the service would have it; several may share the database. */
  const keyStore = (history = 6, days = 365) =>
    new KeyStore(testDb.db, { wwwroot: MAHARA_WWWROOT, subject: SUBJECT, days, bits: 2048, history, now: () => now, log: silentLogger });

  const rows = (): Promise<KeyRow[]> => testDb.db<KeyRow>('site_keys').select('id', 'certificate_pem', 'retired_at').orderBy('id');
  const currentRows = async () => (await rows()).filter((r) => r.retired_at === null);
  const ids = (keys: readonly SiteKey[]) => keys.map((k) => k.id);

  describe('first use', () => {
    it('creates exactly one key pair, and reuses it', async () => {
      const keys = keyStore();
      expect(await rows()).toEqual([]);

      const first = await keys.current();
      const again = await keys.current();

      expect(again.id).toBe(first.id);
      expect((await rows()).map((r) => [r.id, r.retired_at])).toEqual([[first.id, null]]);
    });

    it('creates the key pair on the decryption path too', async () => {
      const decryption = await keyStore().decryptionKeys();
      expect(decryption).toHaveLength(1);
      expect(ids(decryption)).toEqual((await currentRows()).map((r) => r.id));
    });

    it('makes a certificate for our wwwroot valid for the configured number of days (checklist 26)', async () => {
      const key = await keyStore().current();
      const x509 = new crypto.X509Certificate(key.certificatePem);

      expect(x509.subject.split('\n')).toEqual(expect.arrayContaining([`CN=${MAHARA_WWWROOT}`, 'OU=Mahara']));
      expect(x509.issuer).toBe(x509.subject);
      expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
      expect(key.expires.getTime()).toBe(Math.floor(T0.getTime() / 1000) * 1000 + 365 * DAY_MS);
      expect(new Date(x509.validTo).getTime()).toBe(key.expires.getTime());
    });
  });

  describe('the certificate PEM (checklist 27)', () => {
    it('is in OpenSSL\'s canonical form: LF, 64-character lines, one trailing LF', async () => {
      const { certificatePem } = await keyStore().current();
      expect(certificatePem).toMatch(CANONICAL_PEM);
      expect(certificatePem).not.toContain('\r');
      expect(canonicalCertificatePem(certificatePem)).toBe(certificatePem);
      expect((await rows())[0]!.certificate_pem).toBe(certificatePem);
    });

    it('is served canonical even when the stored copy is not (CRLF, 76-character lines)', async () => {
      const canonical = fixtureText('keys/mahara.cert.pem');
      const body = canonical.split('\n').slice(1, -2).join('');
      const messy = ['-----BEGIN CERTIFICATE-----', ...body.match(/.{1,76}/g)!, '-----END CERTIFICATE-----', ''].join('\r\n');
      await testDb.db('site_keys').insert({
        certificate_pem: messy,
        private_key_pem: fixtureText('keys/mahara.key.pem'),
        created_at: T0,
        expires_at: parseCertificate(canonical).validTo,
      });

      expect((await keyStore().current()).certificatePem).toBe(canonical);
      expect(canonical).toMatch(CANONICAL_PEM);
    });
  });

  describe('lazy rotation (checklist 32)', () => {
    it('keeps the key until the first use at or after its expiry, then retires it and makes a new one', async () => {
      const keys = keyStore(6, 10);
      const first = await keys.current();

      now = new Date(first.expires.getTime() - 1000);
      expect((await keys.current()).id).toBe(first.id);

      now = first.expires;
      expect(await currentRows()).toHaveLength(1); // nothing happens without a use
      expect((await currentRows())[0]!.id).toBe(first.id);

      const second = await keys.current();
      expect(second.id).not.toBe(first.id);
      expect(second.certificatePem).not.toBe(first.certificatePem);
      expect(second.expires.getTime()).toBe(first.expires.getTime() + 10 * DAY_MS);
      const stored = await rows();
      expect(stored.map((r) => r.id)).toEqual([first.id, second.id]);
      expect(new Date(stored[0]!.retired_at!).getTime()).toBe(now.getTime());
      expect(ids(await keys.decryptionKeys())).toEqual([second.id, first.id]);
    });

    it('rotates on the decryption path too', async () => {
      const keys = keyStore(6, 1);
      const first = await keys.current();
      now = new Date(T0.getTime() + 2 * DAY_MS);

      const decryption = await keys.decryptionKeys();

      expect(decryption).toHaveLength(2);
      expect(decryption[0]!.id).not.toBe(first.id);
      expect(decryption[1]!.id).toBe(first.id);
    });

    it('keeps the 6 newest retired pairs, newest first, and deletes older ones', async () => {
      const keys = keyStore(6);
      const made = [(await keys.current()).id];
      for (let i = 0; i < 8; i++) {
        now = new Date(now.getTime() + 1000);
        made.push((await keys.rotate()).id);
      }

      const decryption = await keys.decryptionKeys();
      expect(ids(decryption)).toEqual(made.slice(-7).reverse());
      expect((await rows()).map((r) => r.id)).toEqual(made.slice(-7));
      expect((await currentRows()).map((r) => r.id)).toEqual([made.at(-1)]);
    });

    it('honours a shorter configured history', async () => {
      const keys = keyStore(2);
      const made = [(await keys.current()).id];
      for (let i = 0; i < 3; i++) made.push((await keys.rotate()).id);

      expect(ids(await keys.decryptionKeys())).toEqual(made.slice(-3).reverse());
      expect(await rows()).toHaveLength(3);
    });
  });

  describe('several instances on one database', () => {
    it('reload() shows a rotation made by another instance', async () => {
      const a = keyStore();
      const b = keyStore();
      const first = await a.current();
      expect((await b.current()).id).toBe(first.id);

      const second = await a.rotate();
      const reloaded = await b.reload();

      expect(ids(reloaded)).toEqual([second.id, first.id]);
      expect((await b.current()).id).toBe(second.id);
    });

    it('concurrent first uses end with exactly one current key, shared by all', async () => {
      const stores = Array.from({ length: 4 }, () => keyStore());
      const results = await Promise.all(stores.map((s) => s.current()));

      const current = await currentRows();
      expect(current).toHaveLength(1);
      expect(await rows()).toHaveLength(1);
      expect(new Set(ids(results))).toEqual(new Set([current[0]!.id]));
    });

    it('concurrent uses after expiry rotate once: exactly one current key, one retired', async () => {
      const stores = Array.from({ length: 4 }, () => keyStore(6, 1));
      const first = await stores[0]!.current();
      await Promise.all(stores.map((s) => s.reload())); // everyone has seen the same current key
      now = new Date(first.expires.getTime() + 1000);

      const results = await Promise.all(stores.map((s) => s.current()));

      const current = await currentRows();
      expect(current).toHaveLength(1);
      expect(current[0]!.id).not.toBe(first.id);
      expect((await rows()).map((r) => r.id)).toEqual([first.id, current[0]!.id]);
      expect(new Set(ids(results))).toEqual(new Set([current[0]!.id]));
    });

    it('requests arriving together after expiry on one instance share one key generation', async () => {
      const store = keyStore(6, 1);
      const first = await store.current();
      now = new Date(first.expires.getTime() + 1000);
      const generatedBefore = vi.mocked(generateKeyPair).mock.calls.length;
      const results = await Promise.all(Array.from({ length: 5 }, () => store.current()));
      expect(vi.mocked(generateKeyPair).mock.calls.length - generatedBefore).toBe(1);
      expect(new Set(ids(results)).size).toBe(1);
    });

    it('concurrent forced rotations of the same key leave exactly one current key', async () => {
      const stores = Array.from({ length: 3 }, () => keyStore());
      const first = await stores[0]!.current();
      await Promise.all(stores.map((s) => s.reload()));

      const results = await Promise.all(stores.map((s) => s.rotate()));

      const current = await currentRows();
      expect(current).toHaveLength(1);
      expect(current[0]!.id).not.toBe(first.id);
      expect(new Set(ids(results))).toEqual(new Set([current[0]!.id]));
    });
  });
});
