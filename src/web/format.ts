import { formatBytes } from '../format-bytes.js';
import type { QueueItem } from '../portfolio/queue.js';
import { html, type SafeHtml } from './html.js';

/** How pages show ids, times and counts; sizes come from src/format-bytes.ts. */

/** Ids are PostgreSQL `integer` columns: a larger number is no id of ours and must not reach a query. */
const MAX_ID = 2_147_483_647;

/** A path or query id: digits only, 1..2^31-1; anything else (repeated, empty, "1x", "01e3") is undefined. */
export function parseId(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return undefined;
  const id = Number(value);
  return id >= 1 && id <= MAX_ID ? id : undefined;
}

/**
 * An exact instant for admins, UTC to the second: comparing a grade, an enrolment or a queue event with
 * SchoolTool or a log needs the instant, not "2 days ago".
 */
export function timeOf(date: Date): SafeHtml {
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC</time>`;
}

const DATE_FORMAT = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });

/**
 * A date for students, in UTC: imported post dates are stored as the author's wall-clock time in UTC
 * (portfolio-import.md §6.4), so UTC shows them as written; transfer times say "UTC" so nobody misreads them.
 */
export function formatDate(date: Date, options: { zone?: boolean } = {}): SafeHtml {
  return html`<time datetime="${date.toISOString()}">${DATE_FORMAT.format(date)}${options.zone ? ' UTC' : ''}</time>`;
}

/** "1 file", "3 files". */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How far the download of a transfer got, against the zip size the peer announced (admins and students). */
export function progressOf(item: QueueItem): SafeHtml {
  const total = item.importData?.zipfilesize ?? 0;
  if (total <= 0) return html`${formatBytes(item.progressBytes)} fetched`;
  return html`<progress max="${total}" value="${Math.min(item.progressBytes, total)}" aria-label="Download progress"></progress> ${formatBytes(item.progressBytes)} of ${formatBytes(total)} fetched`;
}
