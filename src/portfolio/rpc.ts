import crypto from 'node:crypto';
import type { User } from '../identity/users.js';
import { findOrCreateRemoteUser, findRemoteUser } from '../identity/remote-users.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { XmlRpcValue } from '../mnet/codec.js';
import type { CallContext } from '../mnet/methods.js';
import { formatBytes } from '../format-bytes.js';
import { recordEvent } from './events.js';
import { importError, normaliseFormat, readFetchNow, readImportData, type ImportData } from './import-data.js';
import { runImport, type ImportDeps } from './process.js';
import {
  claimItem,
  createIntent,
  findFinishedTransfer,
  findIntent,
  markQueued,
  recordSubmission,
  releaseIntent,
  type QueueItem,
} from './queue.js';

/**
 * The handler core of the two portfolio RPCs (portfolio-import.md §1.2, §1.3), shared by Moodle's method
 * names and the design note's (src/portfolio/methods.ts renders each vocabulary).
 */
export type IntentDecision =
  | { readonly kind: 'refuse'; readonly reason: string }
  | { readonly kind: 'queueOnly' | 'mayWait'; readonly item: QueueItem };

const LARGEST_TOTAL_BYTES = 2 * 1024 ** 3;

/** §1.2: find the user, check "We import content", open an intent. */
export async function beginIntent(
  deps: ImportDeps,
  ctx: CallContext,
  username: XmlRpcValue | undefined,
  options: { createUser: boolean },
): Promise<IntentDecision> {
  // Mahara checks the flag after finding the user, so an unknown user hears about the user first; but no
  // account is created for an intent that is refused anyway.
  if (options.createUser && !ctx.peer.settings.weImportContent) return { kind: 'refuse', reason: 'Importing content is disabled' };
  const user = await resolveUser(ctx, username, options.createUser);
  if (!ctx.peer.settings.weImportContent) return { kind: 'refuse', reason: 'Importing content is disabled' };
  const mustQueue = deps.config.portfolio.forceQueue;
  const item = await createIntent(ctx.db, { host: ctx.peer.wwwroot, userId: user.id, mustQueue, now: ctx.now });
  await recordEvent(deps, item.id, 'info', `Intent created for ${user.username}: sendtype ${mustQueue ? 'queue' : 'immediate'}`);
  return { kind: mustQueue ? 'queueOnly' : 'mayWait', item };
}

export interface ReadyRequest {
  readonly handle: XmlRpcValue | undefined;
  readonly username: XmlRpcValue | undefined;
  readonly format: XmlRpcValue | undefined;
  readonly importData: XmlRpcValue | undefined;
  readonly fetchNow: XmlRpcValue | undefined;
  /** The design note's fetch location (§1.5): the 6th parameter, or `location` inside importdata. */
  readonly location: XmlRpcValue | undefined;
  readonly designNames: boolean;
}

export type ReadyResult = { readonly type: 'complete'; readonly querystring: string } | { readonly type: 'queued' };

/**
 * §1.3: checks in Mahara's order, then import now or leave it to the cron. Repeating the call for a token
 * already submitted gives the same answer and imports nothing twice.
 */
export async function markReady(deps: ImportDeps, ctx: CallContext, request: ReadyRequest): Promise<ReadyResult> {
  const user = await resolveUser(ctx, request.username, false);
  const notFound = () => importError(`Could not find queue record with given token for username ${String(request.username)} for ${ctx.peer.wwwroot}`);
  const handle = readHandle(request.handle, request.designNames);
  if (!handle) throw notFound();

  // Recorded once the transaction has committed (src/portfolio/events.ts).
  let readyEvent: { id: number; message: string } | undefined;
  const decision = await ctx.db.transaction(async (trx): Promise<{ answer: ReadyResult } | { claimed: QueueItem }> => {
    const row = await findIntent(trx, ctx.peer.wwwroot, handle, { forUpdate: true });
    if (!row) {
      const finished = 'token' in handle ? await findFinishedTransfer(trx, ctx.peer.wwwroot, handle.token) : undefined;
      if (finished?.outcome === 'complete') return { answer: { type: 'complete', querystring: finished.querystring ?? '?' } };
      throw notFound();
    }
    if (row.userId !== user.id) throw importError('Queue record does not belong to this user');
    if (row.expiresAt.getTime() < ctx.now.getTime()) throw importError('Queue record has expired');
    const format = normaliseFormat(request.format);
    const importData = readImportData(request.importData);
    if (row.state !== 'intended') {
      // Moodle retried a call we queued: the same answer, as long as it is the same package. An import
      // running now for the user who waits, or one that failed, is not "queued" (§8 row 9).
      const same = row.format === request.format && row.importData?.zipfilesha1 === importData.zipfilesha1;
      if (same && row.ready && (row.state === 'queued' || row.state === 'processing')) return { answer: { type: 'queued' } };
      throw importError('Queue record already submitted');
    }
    checkSizes(user, importData, deps);
    // The HTTP transport is the design note's (§1.5); Moodle's own names always fetch over MNet.
    const location = request.designNames ? (readLocation(request.location) ?? importData.location ?? null) : null;
    const stored: ImportData = {
      ...importData,
      ...(format === 'leap' ? { skippersondata: true } : {}),
      ...(request.designNames ? { designnames: true } : {}),
    };
    await recordSubmission(trx, row.id, {
      format: String(request.format),
      importData: stored,
      loglevel: format === 'leap' ? deps.config.portfolio.leapLogLevel : null,
      transport: location ? 'http' : 'mnet',
      location,
    });
    const immediate = readFetchNow(request.fetchNow) && !row.mustQueue && importData.zipfilesize <= deps.config.portfolio.immediateMaxBytes;
    readyEvent = {
      id: row.id,
      message: `Content ready: ${String(request.format)}, ${formatBytes(importData.zipfilesize)} zip${location ? ` at ${location}` : ''}; ${immediate ? 'importing now while the user waits' : 'queued'}`,
    };
    if (!immediate) {
      await markQueued(trx, row.id);
      return { answer: { type: 'queued' } };
    }
    return { claimed: await claimItem(trx, row.id, deps.workerId, ctx.now) };
  });
  if (readyEvent) await recordEvent(deps, readyEvent.id, 'info', readyEvent.message);
  if ('answer' in decision) return decision.answer;
  return importNow(deps, decision.claimed);
}

/** §1.3 step 9, immediate branch; on failure the row waits for its expiry with the reason (step 10). */
async function importNow(deps: ImportDeps, item: QueueItem): Promise<ReadyResult> {
  try {
    const result = await runImport(deps, item);
    return { type: 'complete', querystring: result.querystring };
  } catch (err) {
    const fault = asImportFault(err);
    await releaseIntent(deps.db, item.id, deps.workerId, fault.message);
    await recordEvent(deps, item.id, 'error', `Immediate import failed: ${fault.message}; the intent waits for its expiry`);
    deps.log.warn('immediate portfolio import failed', { queueId: item.id, userId: item.userId, peer: item.host, error: fault, cause: err });
    throw fault;
  }
}

/**
 * Errors on the portfolio RPCs reach Moodle as fault 0 with a readable text (§8); our internal ones as
 * "Internal error (ref …)", the details logged under that reference.
 */
function asImportFault(err: unknown): MnetFault {
  if (err instanceof MnetFault && err.expose) return new MnetFault(FaultCode.Application, err.message, { cause: err });
  const ref = crypto.randomUUID();
  return new MnetFault(FaultCode.Application, `Internal error (ref ${ref})`, { cause: err });
}

async function resolveUser(ctx: CallContext, username: XmlRpcValue | undefined, create: boolean): Promise<User> {
  const name = typeof username === 'string' ? username : '';
  const notFound = importError(`Could not find user ${name} for ${ctx.peer.wwwroot}`);
  if (name === '') throw notFound;
  if (create && ctx.peer.settings.weAutoCreateUsers) {
    const { user } = await findOrCreateRemoteUser(
      ctx.db,
      ctx.peer,
      { username: name, firstname: '', lastname: '', email: '' },
      { create: true, updateProfile: false, now: ctx.now, log: ctx.log },
    );
    return user;
  }
  const user = await findRemoteUser(ctx.db, ctx.peer, name);
  if (!user) throw notFound;
  return user;
}

/** The token; on the design names also the queue id as an <int> (§1.5). */
function readHandle(raw: XmlRpcValue | undefined, designNames: boolean): { token: string } | { id: number } | undefined {
  if (typeof raw === 'string' && /^[0-9a-f]{40}$/.test(raw)) return { token: raw };
  if (designNames && typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) return { id: raw };
  return undefined;
}

function readLocation(raw: XmlRpcValue | undefined): string | undefined {
  return typeof raw === 'string' && raw.trim() !== '' ? raw.trim() : undefined;
}

/** §1.3 step 8 and §8 row 16: quota against the declared total, and our size limits, before any fetch. */
function checkSizes(user: User, data: ImportData, deps: ImportDeps): void {
  if (data.zipfilesize > deps.config.portfolio.maxZipBytes || data.totalsize > LARGEST_TOTAL_BYTES) throw importError('Package too large');
  if (user.quotaUsed + data.totalsize > user.quota) throw importError('Exceeded user quota');
}
