import fs from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { hashFile, type BlobStore } from '../artefacts/blob-store.js';
import { createImportTrace } from '../artefacts/import-trace.js';
import type { ImportOutcome, ReturnData } from '../artefacts/plugin.js';
import type { PluginRegistry } from '../artefacts/registry.js';
import type { Config } from '../config.js';
import { FaultCode, MnetFault, toFault } from '../errors.js';
import { findUserById } from '../identity/users.js';
import type { Logger } from '../log.js';
import type { MnetClient } from '../mnet/client.js';
import { findPeer, type Peer } from '../mnet/peers.js';
import { formatBytes } from '../format-bytes.js';
import { recordEvent } from './events.js';
import { extractZip } from './extract-zip.js';
import { importError, normaliseFormat } from './import-data.js';
import { importPackage } from './package.js';
import { finishItem, recordCachedZip, recordProgress, type QueueItem } from './queue.js';
import { fetchOverHttp } from './transports/http.js';
import { fetchOverMnet } from './transports/mnet.js';
import { DEFAULT_ZIP_LIMITS } from './zip-limits.js';
import { checkZipMagic } from './zip-magic.js';

/** What an import needs; built once by src/services.ts and shared by the RPCs, the cron and the CLI. */
export interface ImportDeps {
  readonly db: Knex;
  readonly client: MnetClient;
  readonly config: Pick<Config, 'dataDir' | 'wwwroot' | 'portfolio' | 'mnet'>;
  readonly log: Logger;
  readonly now: () => Date;
  readonly blobs: BlobStore;
  readonly plugins: PluginRegistry;
  /** Names this process's claims in `import_queue.locked_by`. */
  readonly workerId: string;
}

export interface ImportResult {
  readonly outcome: ImportOutcome;
  /** Mahara's `?key=value&…` rendering of the return data (§1.3 step 9), `?` when there is none. */
  readonly querystring: string;
  readonly warnings: readonly string[];
}

export interface ImportObserver {
  /** Bytes of the package fetched so far. */
  onProgress?(bytes: number): void;
}

const MAX_UNPACKED_BYTES = 2 * 1024 ** 3;

/**
 * One attempt at a claimed queue item (§2.4 step 3): fetch (or reuse the cached zip) → verify size, sha1
 * and zip magic → extract safely → import in one transaction that also deletes the row and records the
 * outcome. Nothing is left half-made: on any failure the transaction rolls back, new blobs are removed and
 * the row (still claimed by us) is the caller's to release. The temporary folder goes either way.
 */
export async function runImport(deps: ImportDeps, item: QueueItem, observer: ImportObserver = {}): Promise<ImportResult> {
  const { db, log } = deps;
  await recordEvent(deps, item.id, 'info', `Claimed by worker ${deps.workerId} (attempt ${item.attempts})`);
  const user = await findUserById(db, item.userId);
  if (!user?.loginAllowed) throw new MnetFault(FaultCode.ImportTargetGone, 'Import user no longer active');
  // Only peers queue transfers so far (a local upload would have no host).
  const peer = item.host === null ? undefined : await findPeer(db, item.host);
  if (!peer || !deps.config.mnet.networking) throw new MnetFault(FaultCode.ImportTargetGone, 'Peer no longer available');
  if (!item.importData || !item.format) throw importError('Queue record has no import data');
  const importData = item.importData;

  const tempDir = await freshTempDir(deps, item);
  let keepJournal = false;
  try {
    // Where an import's time goes, for the log (seconds, one decimal).
    const timer = phaseTimer();
    const zipPath = await fetchOrReuseZip(deps, item, peer, tempDir, observer);
    timer.mark('fetchSeconds');
    await checkZipMagic(zipPath);
    const entries = await extractZip(zipPath, path.join(tempDir, 'extract'), {
      ...DEFAULT_ZIP_LIMITS,
      maxTotalBytes: Math.min(importData.totalsize + 1024 * 1024, MAX_UNPACKED_BYTES),
    });
    timer.mark('unzipSeconds');
    const trace = createImportTrace(log, item.loglevel ?? 0, { queueId: item.id, userId: item.userId, peer: peer.wwwroot });
    const blobSession = deps.blobs.session(path.join(tempDir, BLOB_JOURNAL));
    let result: ImportResult;
    try {
      result = await db.transaction(async (trx) => {
        await holdClaim(trx, item, deps.workerId);
        // One import per user at a time: the `incoming` folder and the contact information artefact are
        // found-or-created, which two imports side by side would each create.
        await trx('users').where({ id: user.id }).forUpdate().first('id');
        const priorities = await deps.plugins.priorities(trx);
        const outcome = await importPackage(
          entries,
          {
            format: normaliseFormat(item.format ?? undefined),
            importData,
            designNames: importData.designnames === true,
            skipPersonData: true,
            // Only content_ready's own import claims a row that was never marked ready.
            immediate: !item.ready,
          },
          {
            trx,
            user,
            importId: item.id,
            peerName: peer.name,
            now: deps.now(),
            blobs: deps.blobs,
            blobSession,
            sitePath: new URL(`${deps.config.wwwroot}/`).pathname,
            allowedExtensions: deps.config.portfolio.allowedExtensions,
            trace,
          },
          { registry: deps.plugins, priorities },
        );
        const querystring = renderQuerystring(outcome.returnData);
        await finishItem(trx, item, {
          outcome: 'complete',
          artefacts: outcome.artefactIds.length,
          skipped: trace.warnings.length,
          message: trace.warnings.length > 0 ? trace.warnings.join('\n') : null,
          querystring,
          now: deps.now(),
        });
        return { outcome, querystring, warnings: [...trace.warnings] };
      });
    } catch (err) {
      // Until the discard has worked, the journal must survive this attempt's folder: the next attempt
      // (or the expiry) runs it again.
      await deps.blobs.discard(db, blobSession).catch((discardErr: unknown) => {
        keepJournal = true;
        log.error('could not remove the blobs of a failed import; the next attempt will', { queueId: item.id, error: discardErr });
      });
      throw err;
    }
    // Committed: the cached zip has done its job.
    const skipped = result.warnings.length;
    await recordEvent(deps, item.id, skipped > 0 ? 'warn' : 'info', `Import committed: ${result.outcome.artefactIds.length} artefacts, ${skipped} skipped`);
    await fs.rm(cachedZipPath(deps, item), { force: true });
    timer.mark('importSeconds');
    log.info('imported a portfolio transfer', {
      queueId: item.id,
      userId: item.userId,
      peer: peer.wwwroot,
      artefacts: result.outcome.artefactIds.length,
      ...timer.phases,
    });
    return result;
  } finally {
    if (keepJournal) await fs.rm(path.join(tempDir, 'extract'), { recursive: true, force: true });
    else await fs.rm(tempDir, { recursive: true, force: true });
  }
}

/** Lists the blobs an attempt writes, so one cut off by a crash can be cleaned up by the next. */
const BLOB_JOURNAL = 'blobs.journal';

/**
 * `import/<id>/` for one attempt (§2.4). What a previous attempt left there means it died mid-import: its
 * transaction rolled back with it, so the blobs it stored are removed before the folder is.
 */
async function freshTempDir(deps: ImportDeps, item: Pick<QueueItem, 'id'>): Promise<string> {
  const dir = await removeTempDir(deps, item);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function removeTempDir(deps: Pick<ImportDeps, 'config' | 'db' | 'blobs'>, item: Pick<QueueItem, 'id'>): Promise<string> {
  const dir = path.join(deps.config.dataDir, 'import', String(item.id));
  await deps.blobs.recover(deps.db, path.join(dir, BLOB_JOURNAL));
  await fs.rm(dir, { recursive: true, force: true });
  return dir;
}

/** §2.4 [Ours]: a verified zip from an earlier attempt is used again; Moodle keeps no copy after one fetch. */
async function fetchOrReuseZip(deps: ImportDeps, item: QueueItem, peer: Peer, tempDir: string, observer: ImportObserver): Promise<string> {
  const importData = item.importData!;
  const cached = cachedZipPath(deps, item);
  // Only the package this submission announced, still intact on disk (§2.4 "checked against zipsha1").
  if (item.zipPath === cached && item.zipSha1 === importData.zipfilesha1 && (await exists(cached))) {
    const onDisk = await hashFile(cached, 'sha1');
    if (onDisk.hash === importData.zipfilesha1 && onDisk.size === importData.zipfilesize) {
      await recordEvent(deps, item.id, 'info', `Using the ${formatBytes(onDisk.size)} zip fetched by an earlier attempt`);
      return cached;
    }
    await fs.rm(cached, { force: true });
  }

  if (importData.zipfilesize > deps.config.portfolio.maxZipBytes) throw importError('Package too large');
  const download = path.join(tempDir, 'import.zip');
  let lastReport = 0;
  const target = {
    path: download,
    maxBytes: importData.zipfilesize,
    onProgress: (bytes: number) => {
      observer.onProgress?.(bytes);
      const now = Date.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      void recordProgress(deps.db, item.id, deps.workerId, bytes, deps.now()).catch(() => {});
    },
  };
  const fetched =
    item.transport === 'http' && item.location
      ? await fetchOverHttp(
          { location: item.location, peerWwwroot: peer.wwwroot, id: item.id, token: item.token, expectedBytes: importData.zipfilesize },
          target,
        )
      : await fetchOverMnet(deps.client, peer, item.token, target);
  if (fetched.bytes !== importData.zipfilesize) throw importError("size of received importfile didn't match expected size");
  if (fetched.sha1 !== importData.zipfilesha1) throw importError("sha1 of received importfile didn't match expected sha1");
  await fs.mkdir(path.dirname(cached), { recursive: true, mode: 0o700 });
  await fs.rename(download, cached);
  await recordCachedZip(deps.db, item.id, cached, fetched.sha1);
  await recordEvent(deps, item.id, 'info', `Fetched ${formatBytes(fetched.bytes)} (${fetched.bytes} bytes) over ${item.transport === 'http' && item.location ? 'HTTP' : 'MNet'}`);
  return cached;
}

export function cachedZipPath(deps: Pick<ImportDeps, 'config'>, item: Pick<QueueItem, 'id'>): string {
  return path.join(deps.config.dataDir, 'incoming', `${item.id}.zip`);
}

/**
 * The row must still be ours when the import commits: a worker that was thought dead and lost its claim
 * to another must not import the same package a second time. The row lock also keeps a taker away.
 */
async function holdClaim(trx: Knex.Transaction, item: QueueItem, workerId: string): Promise<void> {
  const row = await trx('import_queue').where({ id: item.id, locked_by: workerId, state: 'processing' }).forUpdate().first('id');
  if (!row) throw new MnetFault(FaultCode.Internal, `Queue item ${item.id} is no longer claimed by this worker`);
}

function phaseTimer() {
  let last = performance.now();
  const phases: Record<string, number> = {};
  return {
    phases,
    mark(name: string) {
      const now = performance.now();
      phases[name] = Math.round((now - last) / 100) / 10;
      last = now;
    },
  };
}

/** §1.3 step 9: '?' then `key=value&` for each pair; the trailing '&' is part of Mahara's format. */
export function renderQuerystring(data: ReturnData): string {
  return '?' + data.map(([k, v]) => `${k}=${v}&`).join('');
}

/** The text recorded for admins, and sent to the peer on the immediate path. */
export function failureMessage(err: unknown): string {
  const fault = toFault(err);
  return fault.expose ? fault.message : 'Internal error';
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
