import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { loadConfig, type Config, type MnetConfig } from '../../src/config.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { MnetClient } from '../../src/mnet/client.js';
import { openServices, type Services } from '../../src/services.js';

/** A short temporary DATA_DIR (the control socket path must stay under ~100 bytes). */
export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pis-'));
}

export function testConfig(env: Record<string, string> = {}, mnet: Partial<MnetConfig> = {}): Config {
  const base = loadConfig({ DATA_DIR: tempDataDir(), LOG_LEVEL: 'error', ...env });
  return { ...base, mnet: { ...base.mnet, ...mnet } };
}

/** Puts a known key pair (e.g. the Moodle-made fixture for http://mahara.test) in place as our current key. */
export async function installSiteKey(db: Knex, certificatePem: string, privateKeyPem: string, expires: Date, now = new Date()): Promise<void> {
  await db('site_keys').whereNull('retired_at').update({ retired_at: now });
  await db('site_keys').insert({ certificate_pem: certificatePem, private_key_pem: privateKeyPem, created_at: now, expires_at: expires });
}

export async function createTestServices(options: {
  db: Knex;
  env?: Record<string, string>;
  mnet?: Partial<MnetConfig>;
  now?: () => Date;
  log?: Logger;
}): Promise<Services> {
  return openServices(testConfig(options.env, options.mnet), options.log ?? silentLogger, { db: options.db, now: options.now });
}

/** A client like services.client but with some MNet settings changed. */
export function clientWith(services: Services, mnet: Partial<MnetConfig>): MnetClient {
  return new MnetClient({
    db: services.db,
    keys: services.keys,
    registry: services.registry,
    wwwroot: services.config.wwwroot,
    mnet: { ...services.config.mnet, ...mnet },
    log: services.log,
    now: services.now,
  });
}
