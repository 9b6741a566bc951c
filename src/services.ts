import crypto from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import { BlobStore } from './artefacts/blob-store.js';
import { createFilePlugin } from './artefacts/file/index.js';
import { leapPlugins } from './artefacts/leap2a/index.js';
import { PluginRegistry } from './artefacts/registry.js';
import type { Config } from './config.js';
import { createDb, dbTargetFor, migrateToLatest } from './db/knex.js';
import { registerSsoIdpMethods } from './identity/sso-idp-methods.js';
import { registerSsoSpMethods } from './identity/sso-methods.js';
import type { Logger } from './log.js';
import { MnetClient } from './mnet/client.js';
import { KeyStore } from './mnet/keys.js';
import { MethodPath, MethodRegistry } from './mnet/methods.js';
import { MnetServer } from './mnet/server.js';
import { registerSystemMethods } from './mnet/system.js';
import { BackgroundQueueRuns } from './portfolio/background-runs.js';
import { registerPortfolioMethods } from './portfolio/methods.js';
import type { ImportDeps } from './portfolio/process.js';
import { registerSchooltoolMethods } from './schooltool/methods.js';

/** Everything the HTTP server and the CLI share, built the same way for both. */
export interface Services {
  readonly config: Config;
  readonly db: Knex;
  readonly log: Logger;
  readonly now: () => Date;
  readonly keys: KeyStore;
  readonly registry: MethodRegistry;
  readonly client: MnetClient;
  readonly mnetServer: MnetServer;
  readonly plugins: PluginRegistry;
  /** What portfolio imports need: shared by the RPCs, the cron and the CLI's `queue run`. */
  readonly imports: ImportDeps;
  /** Queue runs started on demand (admin "Retry now"); a graceful stop waits for them. */
  readonly queueRuns: BackgroundQueueRuns;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** A ready database (tests); otherwise one is opened from the configuration. */
  db?: Knex;
  now?: () => Date;
}

/** Opens the database, brings the schema up to date and wires the MNet layer. */
export async function openServices(config: Config, log: Logger, options: ServiceOptions = {}): Promise<Services> {
  const db = options.db ?? createDb(dbTargetFor(config));
  const now = options.now ?? (() => new Date());
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) log.info('applied database migrations', { migrations: applied.join(',') });
  } catch (err) {
    if (!options.db) await db.destroy();
    throw err;
  }
  const keys = new KeyStore(db, {
    wwwroot: config.wwwroot,
    subject: config.mnet.subject,
    days: config.mnet.keyDays,
    bits: config.mnet.keyBits,
    history: config.mnet.keyHistory,
    now,
    log,
  });
  const registry = new MethodRegistry();
  registerSystemMethods(registry);
  registerSsoSpMethods(registry);
  registerSchooltoolMethods(registry, config.schooltoolMethodPrefix);
  const client = new MnetClient({ db, keys, registry, wwwroot: config.wwwroot, mnet: config.mnet, log, now });
  registerSsoIdpMethods(registry, { client, config });
  // Plugins are registered here, explicitly (style.md), in Mahara's order: it breaks ties between scores.
  const plugins = new PluginRegistry();
  const filePlugin = createFilePlugin({ renameOnCollision: config.portfolio.renameOnCollision });
  for (const plugin of leapPlugins) plugins.register(plugin.name === filePlugin.name ? filePlugin : plugin);
  const imports: ImportDeps = {
    db,
    client,
    config,
    log,
    now,
    blobs: new BlobStore(path.join(config.dataDir, 'files')),
    plugins,
    workerId: `${process.pid}-${crypto.randomBytes(6).toString('hex')}`,
  };
  registerPortfolioMethods(registry, imports);
  const mnetServer = new MnetServer({
    db,
    keys,
    registry,
    refreshPeerKey: async (peer) => {
      await client.call(peer, MethodPath.listServices, []);
    },
    wwwroot: config.wwwroot,
    mnet: config.mnet,
    log,
    now,
  });
  return {
    config,
    db,
    log,
    now,
    keys,
    registry,
    client,
    mnetServer,
    plugins,
    imports,
    queueRuns: new BackgroundQueueRuns(imports),
    close: async () => {
      if (!options.db) await db.destroy();
    },
  };
}
