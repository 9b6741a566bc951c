import { parseArgs } from 'node:util';
import { setPluginPriority } from '../artefacts/registry.js';
import { FaultCode, MnetFault } from '../errors.js';
import { formatBytes } from '../format-bytes.js';
import { listQueueItems, type QueueItem, type QueueState } from '../portfolio/queue.js';
import { cancelTransfer, processIncomingContentQueue, retryTransfer } from '../portfolio/run-queue.js';
import type { Services } from '../services.js';

export const QUEUE_USAGE = `  queue list [--state S] [--peer W] [--user ID]
                                        incoming portfolio transfers (states: intended, queued,
                                        processing, failed)
  queue run                             run process_incoming_content_queue once, with progress
  queue retry <id>                      a queued or failed transfer is due again, attempts reset
  queue cancel <id>                     drop a transfer that is not being processed
  plugin list                           artefact plugins, what they import, their priorities
  plugin priority <plugin> <format> <n|default>
                                        override a plugin's priority for one format (file/file, LEAP/…)
`;

type Out = (line: string) => void;
const STATES: readonly QueueState[] = ['intended', 'queued', 'processing', 'failed'];

/** The admins' queue and plugin commands (portfolio-import.md §2.4, §2.6, §4.4) until the web pages exist. */
export async function runQueueCommand(services: Services, key: string, rest: string[], out: Out): Promise<number | undefined> {
  const { db } = services;
  switch (key) {
    case 'queue list': {
      const { values } = parseArgs({ args: rest, options: { state: { type: 'string' }, peer: { type: 'string' }, user: { type: 'string' } } });
      if (values.state !== undefined && !STATES.includes(values.state as QueueState)) {
        throw new MnetFault(FaultCode.InvalidInput, `--state must be one of ${STATES.join(', ')}`);
      }
      const items = await listQueueItems(db, {
        state: values.state as QueueState | undefined,
        host: values.peer,
        userId: values.user === undefined ? undefined : positiveInt(values.user, 'user'),
      });
      if (items.length === 0) out('no transfers in the queue');
      for (const item of items) printItem(item, out);
      return 0;
    }
    case 'queue run': {
      parseArgs({ args: rest, options: {} });
      const summary = await processIncomingContentQueue(services.imports, progressPrinter(out));
      out(`done: ${summary.imported} imported, ${summary.retrying} to retry, ${summary.failed} failed, ${summary.expired} expired`);
      return summary.retrying + summary.failed > 0 ? 1 : 0;
    }
    case 'queue retry': {
      const id = positiveInt(only(rest, 'id'), 'id');
      if (!(await retryTransfer(services.imports, id, 'the CLI'))) throw new MnetFault(FaultCode.InvalidInput, `No queued or failed transfer ${id}`);
      out(`transfer ${id} is due again; it runs with the next queue run (or: npm run cli -- queue run)`);
      return 0;
    }
    case 'queue cancel': {
      const id = positiveInt(only(rest, 'id'), 'id');
      if (!(await cancelTransfer(services.imports, id, 'the CLI'))) throw new MnetFault(FaultCode.InvalidInput, `No transfer ${id} that could be cancelled (unknown, or being processed)`);
      out(`transfer ${id} cancelled`);
      return 0;
    }
    case 'plugin list': {
      const priorities = await services.plugins.priorities(db);
      for (const plugin of services.plugins.list()) {
        out(`${plugin.name}: ${plugin.imports.map((d) => `${d.format}=${priorities.of(plugin, d.format)}${priorities.of(plugin, d.format) !== d.priority ? ` (default ${d.priority})` : ''}`).join(' ')}`);
      }
      return 0;
    }
    case 'plugin priority': {
      const [plugin, format, value, ...extra] = rest;
      if (!plugin || !format || !value || extra.length > 0) throw new MnetFault(FaultCode.InvalidInput, 'usage: plugin priority <plugin> <format> <n|default>');
      const priority = value === 'default' ? null : Number(value);
      if (priority !== null && !Number.isSafeInteger(priority)) throw new MnetFault(FaultCode.InvalidInput, `priority must be an integer or "default", got "${value}"`);
      await setPluginPriority(db, services.plugins, plugin, format, priority);
      out(`${plugin} ${format}: ${priority === null ? 'back to its default' : `priority ${priority}`}`);
      return 0;
    }
    default:
      return undefined;
  }
}

function printItem(item: QueueItem, out: Out): void {
  out(
    `#${item.id} ${item.state} user=${item.userId} peer=${item.host ?? 'local'} format=${item.format ?? '-'} ` +
      `attempts=${item.attempts} created=${item.createdAt.toISOString()} expires=${item.expiresAt.toISOString()}` +
      (item.lastError ? ` error=${JSON.stringify(item.lastError)}` : ''),
  );
}

/** One line per item and a bar every tenth of its package, so the run reads well over the control socket too. */
function progressPrinter(out: Out) {
  let shown = -1;
  return {
    onStart(item: QueueItem) {
      shown = -1;
      out(`#${item.id} ${item.format ?? ''} for user ${item.userId} from ${item.host ?? 'local'}: ${formatBytes(item.importData?.zipfilesize ?? 0)}`);
    },
    onProgress(item: QueueItem, bytes: number) {
      const total = item.importData?.zipfilesize ?? 0;
      const tenth = total > 0 ? Math.min(10, Math.floor((bytes / total) * 10)) : 10;
      if (tenth <= shown) return;
      shown = tenth;
      out(`  [${'#'.repeat(tenth)}${'-'.repeat(10 - tenth)}] ${formatBytes(bytes)} of ${formatBytes(total)}`);
    },
    onFinish(item: QueueItem, outcome: string, message?: string) {
      out(`#${item.id} ${outcome}${message ? `: ${message}` : ''}`);
    },
  };
}

function only(rest: string[], what: string): string {
  if (rest.length !== 1) throw new MnetFault(FaultCode.InvalidInput, `expected one ${what}`);
  return rest[0]!;
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new MnetFault(FaultCode.InvalidInput, `${what} must be a positive number, got "${text}"`);
  return n;
}
