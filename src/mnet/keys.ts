import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { CertificateSubjectConfig } from '../config.js';
import type { Logger } from '../log.js';
import { generateKeyPair, parseCertificate } from './certificate.js';
import { deriveRejectionSecret } from './rsa.js';
import type { DecryptionKey } from './envelope.js';

/** One of our key pairs, ready for the hot path (KeyObjects built once, not per request). */
export interface SiteKey extends DecryptionKey {
  readonly id: number;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly publicKey: crypto.KeyObject;
  readonly expires: Date;
  readonly sha1Fingerprint: string;
}

export interface KeyStoreOptions {
  wwwroot: string;
  subject: CertificateSubjectConfig;
  days: number;
  bits: number;
  /** How many retired pairs are kept for decryption (Mahara's openssl_generations, §5.2). */
  history: number;
  now: () => Date;
  log: Logger;
}

interface KeyRow {
  id: number;
  certificate_pem: string;
  private_key_pem: string;
  expires_at: Date;
  retired_at: Date | null;
}

/** Other instances may rotate the shared key pair; a cached view older than this is read again. */
const CACHE_MS = 5_000;
/** The least time between two reads forced by requests that no cached key opened. */
const REFRESH_MS = 1_000;

/**
 * Our key pair and its history (§5.1, §5.2), stored in the database so every instance and the CLI share it.
 * Rotation is lazy: the first use after expiry retires the current pair and makes a new one. Retired pairs
 * only decrypt (and sign the 7025 answer to a request that used them, §4.3).
 */
export class KeyStore {
  private cache: { keys: SiteKey[]; loadedAt: number } | undefined;
  private replacing: Promise<SiteKey> | undefined;
  private generation = 0;

  constructor(
    private readonly db: Knex,
    private readonly options: KeyStoreOptions,
  ) {}

  /** The current pair, creating the first one or rotating an expired one as needed. */
  async current(): Promise<SiteKey> {
    const keys = await this.cachedKeys();
    const current = keys[0];
    if (current && current.expires.getTime() > this.options.now().getTime()) return current;
    // Every request arriving after expiry lands here; they share one key generation.
    this.replacing ??= this.replaceCurrent(current ? 'expired' : 'missing').finally(() => (this.replacing = undefined));
    return this.replacing;
  }

  /** Current pair first, then retired pairs newest first: the order in which §4.3 tries them. */
  async decryptionKeys(): Promise<readonly SiteKey[]> {
    await this.current();
    return this.cachedKeys(); // already limited to the history length by the query
  }

  /** Admin action ("delete key"): retire the current pair now. */
  async rotate(): Promise<SiteKey> {
    return this.replaceCurrent('forced');
  }

  /**
   * Reads the keys again unless that happened within the last second, e.g. when no cached key opened a
   * request. Returns the same array when nothing was read.
   */
  async refresh(): Promise<readonly SiteKey[]> {
    if (this.cache && Date.now() - this.cache.loadedAt < REFRESH_MS) return this.cache.keys;
    return this.reload();
  }

  /** Reads the keys again now. */
  async reload(): Promise<readonly SiteKey[]> {
    this.cache = undefined;
    this.generation++;
    return this.cachedKeys();
  }

  private async cachedKeys(): Promise<SiteKey[]> {
    const now = Date.now();
    if (this.cache && now - this.cache.loadedAt < CACHE_MS) return this.cache.keys;
    // A read that started before a reload() (e.g. right after a rotation) must not store its older view.
    const generation = this.generation;
    const rows = await this.db<KeyRow>('site_keys')
      .select('id', 'certificate_pem', 'private_key_pem', 'expires_at', 'retired_at')
      .orderByRaw('retired_at desc nulls first, id desc')
      .limit(this.options.history + 1);
    // Parsing a pair costs milliseconds; rows never change once written, so reuse what we parsed.
    const parsed = new Map(this.cache?.keys.map((k) => [k.id, k]));
    const keys = rows.map((row) => parsed.get(row.id) ?? toSiteKey(row));
    if (generation === this.generation) this.cache = { keys, loadedAt: now };
    return keys;
  }

  private async replaceCurrent(reason: 'missing' | 'expired' | 'forced'): Promise<SiteKey> {
    const now = this.options.now();
    // Key generation takes a while; do it outside the transaction and throw the pair away if another
    // instance rotated first.
    const pair = await generateKeyPair({
      wwwroot: this.options.wwwroot,
      subject: this.options.subject,
      days: this.options.days,
      bits: this.options.bits,
      now,
    });
    const seenId = this.cache?.keys[0]?.id ?? null;
    await this.db.transaction(async (trx) => {
      // Serialises rotations across instances: everyone locks the same current row (or the table when empty).
      await trx.raw('lock table site_keys in share row exclusive mode');
      const current = await trx<KeyRow>('site_keys').whereNull('retired_at').first();
      const stillNeeded =
        reason === 'missing'
          ? !current
          : reason === 'expired'
            ? !current || new Date(current.expires_at).getTime() <= now.getTime()
            : !current || current.id === seenId || seenId === null;
      if (!stillNeeded) return;
      if (current) await trx('site_keys').where({ id: current.id }).update({ retired_at: now });
      await trx('site_keys').insert({
        certificate_pem: pair.certificatePem,
        private_key_pem: pair.privateKeyPem,
        created_at: now,
        expires_at: pair.expires,
      });
      // Keep the newest `history` retired pairs; older ones can never open a request again (§5.2).
      const keep = trx('site_keys')
        .select('id')
        .whereNotNull('retired_at')
        .orderBy([{ column: 'retired_at', order: 'desc' }, { column: 'id', order: 'desc' }])
        .limit(this.options.history);
      await trx('site_keys').whereNotNull('retired_at').whereNotIn('id', keep).delete();
    });
    const keys = await this.reload();
    const current = keys[0]!;
    if (current.certificatePem === pair.certificatePem) {
      this.options.log.info(reason === 'missing' ? 'created our MNet key pair' : 'rotated our MNet key pair', {
        reason,
        fingerprint: current.sha1Fingerprint,
        expires: current.expires.toISOString(),
      });
    }
    return current;
  }
}

function toSiteKey(row: KeyRow): SiteKey {
  const cert = parseCertificate(row.certificate_pem);
  const privateKey = crypto.createPrivateKey(row.private_key_pem);
  return {
    id: row.id,
    certificatePem: cert.pem,
    privateKeyPem: row.private_key_pem,
    privateKey,
    publicKey: cert.publicKey,
    rejectionSecret: deriveRejectionSecret(privateKey),
    expires: new Date(row.expires_at),
    sha1Fingerprint: cert.sha1Fingerprint,
  };
}
