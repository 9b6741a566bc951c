import { FaultCode, MnetFault } from '../../errors.js';
import { escapeAttribute, escapeText } from '../html/entities.js';
import { formatPlainText, sanitiseHtml } from '../html/sanitise.js';
import type { LeapEntry, LeapFeed } from './feed.js';
import { isInRole } from './namespaces.js';
import { attrOf, childElements, textOf, type XmlNode } from './parse.js';

/**
 * An entry's text constructs (portfolio-import.md §6.4): `content`/`summary` of type text (the default, also
 * when empty), html or xhtml; `content/@src` is out-of-line content, a file path. Any other type fails the
 * import with Mahara's message, when an importer reads it (§8 row 34).
 */
export interface EntryText {
  readonly kind: 'text' | 'html';
  readonly value: string;
}

export function entryContent(entry: LeapEntry): EntryText {
  return readTextConstruct(entry.contentNode, entry.id);
}

export function entrySummary(entry: LeapEntry): EntryText {
  return readTextConstruct(entry.summaryNode, entry.id);
}

/** `content/@src`, the out-of-line content path, if any. */
export function contentSrc(entry: LeapEntry): string | undefined {
  const src = entry.contentNode ? attrOf(entry.contentNode, 'src') : undefined;
  return src === undefined || src.trim() === '' ? undefined : src.trim();
}

/** `content/@type`, lower-cased ('' when absent). */
export function contentType(entry: LeapEntry): string {
  return (entry.contentNode ? attrOf(entry.contentNode, 'type') ?? '' : '').trim().toLowerCase();
}

function readTextConstruct(node: XmlNode | undefined, entryId: string): EntryText {
  if (!node) return { kind: 'text', value: '' };
  const type = (attrOf(node, 'type') ?? '').trim();
  if (attrOf(node, 'src') !== undefined) return { kind: 'text', value: '' };
  switch (type.toLowerCase()) {
    case '':
    case 'text':
      return { kind: 'text', value: textOf(node) };
    case 'html':
      return { kind: 'html', value: textOf(node) };
    case 'xhtml':
      return { kind: 'html', value: xhtmlPayload(node) };
    default:
      throw new MnetFault(FaultCode.Application, `Unrecognised content type for entry '${entryId}' (${type})`);
  }
}

/** The inner markup of the single xhtml `div` child (Atom §3.1.1.3); without one, all of the content. */
function xhtmlPayload(node: XmlNode): string {
  const elements = childElements(node);
  const div = elements.length === 1 && elements[0]!.local === 'div' && isInRole(elements[0]!.uri, 'xhtml') ? elements[0]! : undefined;
  return (div ?? node).children.map(serialiseXhtml).join('');
}

const HTML_VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);

/**
 * XHTML written back as HTML: names without the xhtml prefix, void elements as `<br/>` and other empty
 * elements as `<td></td>`, since an HTML parser reads `<td/>` as an open tag (libxml2's asXML would keep `<td/>`).
 */
function serialiseXhtml(child: XmlNode | string): string {
  if (typeof child === 'string') return escapeText(child);
  const attrs = child.attrs.map((a) => ` ${a.local}="${escapeAttribute(a.value)}"`).join('');
  if (HTML_VOID.has(child.local)) return `<${child.local}${attrs}/>`;
  return `<${child.local}${attrs}>${child.children.map(serialiseXhtml).join('')}</${child.local}>`;
}

/**
 * Text made ready to store as an HTML field (§6.7): plain text escaped with `<br>` and `&nbsp;`; html and
 * xhtml through the journal-post sanitiser [Ours]. References to this feed's entries survive the sanitiser
 * so the fix-up (§6.8) can resolve them.
 */
export function toHtmlField(text: EntryText, feed: LeapFeed): string {
  if (text.kind === 'text') return formatPlainText(text.value);
  return sanitiseHtml(text.value, { keepUrl: (url) => isEntryReference(url, feed) });
}

/** An entry id of this feed (the sanitiser has already refused schemes a browser would run). */
function isEntryReference(url: string, feed: LeapFeed): boolean {
  return feed.byId.has(url.trim());
}

/** Plain text of an entry's content, tags stripped (§6.8: a file's description). */
export function plainContent(entry: LeapEntry): string {
  const text = entryContent(entry);
  return (text.kind === 'html' ? text.value.replace(/<[^>]*>/g, '') : text.value).trim();
}

/**
 * An Atom date as stored for a post (§6.4, measured): the wall-clock part, with the UTC offset dropped
 * (`…T09:15:00+08:00` is stored as 09:15:00), represented as that wall-clock time in UTC. Undefined when
 * missing; null when present but not a date.
 */
export function wallClockDate(raw: string | undefined): Date | null | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$/i.exec(raw.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => (v === undefined ? 0 : Number(v))) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && s < 61 ? date : null;
}

/** ctime from `published`, mtime from `updated` (§6.7); a missing or unparseable date is the import time. */
export function entryTimes(entry: LeapEntry, now: Date): { ctime: Date; mtime: Date } {
  return { ctime: wallClockDate(entry.published) ?? now, mtime: wallClockDate(entry.updated) ?? now };
}
