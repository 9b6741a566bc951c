import type { Knex } from 'knex';
import type { Config } from '../../config.js';
import { listPeers } from '../../mnet/peers.js';
import { listHistory, type HistoryRecord } from '../../portfolio/history.js';
import { listQueueItems, type QueueItem } from '../../portfolio/queue.js';
import { html, type SafeHtml } from '../html.js';
import { href } from '../page.js';
import { formatDate, progressOf } from '../format.js';
import { FILES_PATH } from './paths.js';

/**
 * A student's transfers from Moodle, as the home and imports pages show them: what is still in the queue
 * (import_queue, portfolio-import.md §2.3) and what became of the finished ones (import_history, §2.6),
 * each state and outcome in plain words.
 */
export interface Transfers {
  readonly waiting: readonly QueueItem[];
  readonly finished: readonly HistoryRecord[];
  /** The peer's name for a queue or history `host` (null: this site). */
  readonly from: (host: string | null) => string;
}

export async function loadTransfers(db: Knex, userId: number, finishedLimit: number): Promise<Transfers> {
  const [waiting, finished, peers] = await Promise.all([
    listQueueItems(db, { userId }),
    listHistory(db, { userId }, finishedLimit),
    // Deleted peers too: their old transfers still name them.
    listPeers(db, { includeDeleted: true }),
  ]);
  const names = new Map(peers.map((p) => [p.wwwroot, p.name]));
  return { waiting, finished, from: (host) => (host === null ? 'this site' : (names.get(host) ?? host)) };
}

function formatName(format: string | null): string {
  switch (format) {
    case 'file':
    case 'files':
      return 'Files';
    case 'leap2a':
    case 'leap':
      return 'Portfolio (Leap2A)';
    case null:
      return 'Not sent yet';
    default:
      return format;
  }
}

/** A queue state as a word and a sentence on what happens next. */
function describeState(item: QueueItem, now: Date): { label: string; explanation: SafeHtml } {
  switch (item.state) {
    case 'intended':
      return {
        label: 'Waiting for Moodle',
        explanation: item.lastError
          ? html`Moodle asked to send this, but importing it failed. Try the export in Moodle again.`
          : html`Moodle announced this transfer but has not sent it yet. It is dropped if nothing arrives by ${formatDate(item.expiresAt, { zone: true })}.`,
      };
    case 'queued':
      return {
        label: 'Queued',
        explanation: isWaitingForRetry(item, now)
          ? html`The last try did not work; it will be tried again.`
          : html`It will be imported in the next queue run (every few minutes).`,
      };
    case 'processing':
      return { label: 'Importing now', explanation: html`It is being fetched from Moodle and imported.` };
    case 'failed':
      return {
        label: 'Failed',
        explanation: html`It could not be imported, and no more tries will be made. Export it from Moodle again, or ask an administrator.`,
      };
  }
}

const isWaitingForRetry = (item: QueueItem, now: Date): boolean => item.runAfter !== null && item.runAfter > now;

/** When the queue will next take the transfer up, if it will. */
function nextTry(item: QueueItem, now: Date): SafeHtml | string {
  switch (item.state) {
    case 'queued':
      return item.runAfter !== null && item.runAfter > now ? formatDate(item.runAfter, { zone: true }) : 'Next queue run';
    case 'processing':
      return 'Now';
    case 'intended':
      return 'When Moodle sends it';
    case 'failed':
      return 'None';
  }
}

const OUTCOMES: Record<HistoryRecord['outcome'], { label: string; explanation: string }> = {
  complete: { label: 'Imported', explanation: 'Everything in this transfer was saved in your portfolio.' },
  failed: { label: 'Failed', explanation: 'It could not be imported after several tries. Export it from Moodle again, or ask an administrator.' },
  expired: { label: 'Expired', explanation: 'Moodle did not send the content within 24 hours, so the transfer was dropped. Export it again.' },
  cancelled: { label: 'Cancelled', explanation: 'An administrator cancelled this transfer.' },
};

function describeOutcome(record: HistoryRecord): { label: string; explanation: string } {
  const outcome = OUTCOMES[record.outcome];
  if (record.outcome === 'complete' && record.skipped > 0) {
    return { label: 'Imported, with omissions', explanation: 'Most of it was saved; some items were skipped (see the details).' };
  }
  return outcome;
}


export function waitingTable(transfers: Transfers, now: Date): SafeHtml {
  return html`<div class="table-wrap"><table>
<caption>Transfers not finished yet</caption>
<thead><tr><th scope="col">Started</th><th scope="col">From</th><th scope="col">Format</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Next try</th><th scope="col">Progress</th><th scope="col">Last error</th></tr></thead>
<tbody>
${transfers.waiting.map((item) => {
  const state = describeState(item, now);
  return html`<tr><td>${formatDate(item.createdAt, { zone: true })}</td><td>${transfers.from(item.host)}</td><td>${formatName(item.format)}</td><td><strong>${state.label}</strong><br><span class="muted">${state.explanation}</span></td><td>${item.attempts}</td><td>${nextTry(item, now)}</td><td>${item.state === 'processing' ? progressOf(item) : ''}</td><td>${item.lastError ?? ''}</td></tr>
`;
})}
</tbody>
</table></div>`;
}

export function finishedTable(config: Config, transfers: Transfers, caption: string): SafeHtml {
  return html`<div class="table-wrap"><table>
<caption>${caption}</caption>
<thead><tr><th scope="col">Finished</th><th scope="col">From</th><th scope="col">Format</th><th scope="col">Outcome</th><th scope="col">Items imported</th><th scope="col">Skipped</th><th scope="col">Details</th></tr></thead>
<tbody>
${transfers.finished.map((record) => {
  const outcome = describeOutcome(record);
  return html`<tr><td>${formatDate(record.finishedAt, { zone: true })}</td><td>${transfers.from(record.host)}</td><td>${formatName(record.format)}</td><td><strong>${outcome.label}</strong><br><span class="muted">${outcome.explanation}</span></td><td>${record.artefacts}</td><td>${record.skipped}</td><td>${details(config, record)}</td></tr>
`;
})}
</tbody>
</table></div>`;
}

/** The message (warnings one per line) and, for an imported file transfer, a link to where it landed. */
function details(config: Config, record: HistoryRecord): SafeHtml {
  const lines = (record.message ?? '').split('\n').filter((l) => l.trim() !== '');
  const folder = record.outcome === 'complete' ? folderQuery(record.querystring) : undefined;
  return html`${folder ? html`<a href="${href(config, FILES_PATH, folder)}">Open folder</a>` : ''}${
    lines.length === 1 ? html`<p>${lines[0]}</p>` : lines.length > 1 ? html`<ul>${lines.map((l) => html`<li>${l}</li>`)}</ul>` : ''
  }`;
}

/** `?folder=12&file=34&` (Mahara's return data, §5.5) as the file browser's query; undefined without a folder. */
function folderQuery(querystring: string | null): { folder: string; file?: string } | undefined {
  const params = new URLSearchParams(querystring ?? '');
  const folder = params.get('folder');
  if (folder === null || !/^\d+$/.test(folder)) return undefined;
  const file = params.get('file');
  return file !== null && /^\d+$/.test(file) && file !== '0' ? { folder, file } : { folder };
}
