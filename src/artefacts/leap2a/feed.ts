import { FaultCode, MnetFault } from '../../errors.js';
import { curieTerm, isInRole, LEAP_2010_PREDICATES, LEAP_VERSION_2010, type NamespaceBindings, type NamespaceRole } from './namespaces.js';
import { attrOf, childElements, textOf, type ParsedLeapXml, type XmlNode } from './parse.js';

/**
 * The feed as the importers read it (portfolio-import.md §6.4): entries with their links, categories and
 * Mahara hints resolved by namespace URI. Content is kept as nodes and read through entryContent, because
 * an unknown content type fails the import only when an importer reads it (§8 row 34).
 */
export interface LeapLink {
  /** As written. */
  readonly rel: string;
  /** The term when `rel` is a LEAP predicate CURIE (`has_part`), else undefined. */
  readonly leapRel: string | undefined;
  readonly href: string;
  readonly type: string | undefined;
  readonly length: string | undefined;
  readonly displayOrder: number | undefined;
}

export interface LeapCategory {
  readonly term: string;
  readonly label: string | undefined;
  /** The categories term of the scheme without its `#` (`selection_type`); undefined for a tag or a foreign scheme. */
  readonly scheme: string | undefined;
  readonly hasScheme: boolean;
}

export interface LeapAuthor {
  readonly name: string | undefined;
  readonly email: string | undefined;
  readonly uri: string | undefined;
}

export interface LeapEntry {
  readonly id: string;
  /** Position in the document: the tie-breaker of every ordering (§6.6 step 3 [Ours]). */
  readonly index: number;
  readonly title: string;
  readonly summaryNode: XmlNode | undefined;
  readonly contentNode: XmlNode | undefined;
  readonly published: string | undefined;
  readonly updated: string | undefined;
  /** rdf:type terms in the LEAP types namespace (`resource`, `selection`, …). */
  readonly types: readonly string[];
  readonly links: readonly LeapLink[];
  readonly categories: readonly LeapCategory[];
  /** Scheme-less categories: label, else term; de-duplicated. */
  readonly tags: readonly string[];
  readonly maharaPlugin: string | undefined;
  readonly maharaType: string | undefined;
  readonly author: LeapAuthor | undefined;
  readonly node: XmlNode;
}

export interface LeapFeed {
  readonly id: string;
  readonly title: string;
  readonly version: '2010-07' | '2009-03';
  readonly author: LeapAuthor | undefined;
  readonly entries: readonly LeapEntry[];
  readonly byId: ReadonlyMap<string, LeapEntry>;
  /** The persondata entry (§6.5), never offered to plugins. */
  readonly personEntryId: string | undefined;
  readonly bindings: NamespaceBindings;
  /** `<predicate> <target id>` → entries with such a LEAP link, in document order (entriesLinkingTo). */
  readonly incoming: ReadonlyMap<string, readonly LeapEntry[]>;
}

const UNSUPPORTED_VERSION = 'FATAL: The version of the uploaded LEAP2A file is not supported by this Mahara version';

export function buildFeed(parsed: ParsedLeapXml, warn: (message: string) => void): LeapFeed {
  const root = parsed.root;
  for (const w of parsed.warnings) warn(`LEAP2A: ${w}`);
  if (!isInRole(root.uri, 'atom') || root.local !== 'feed') {
    throw new MnetFault(FaultCode.Application, 'FATAL: XML not accepted: the document is not an Atom feed');
  }
  const version = detectVersion(root);
  warnUndeclared(root.bindings, warn);
  const entries: LeapEntry[] = [];
  const byId = new Map<string, LeapEntry>();
  for (const node of childElements(root)) {
    if (!isAtom(node, 'entry')) continue;
    const entry = readEntry(node, entries.length);
    if (entry.id === '') {
      warn('LEAP2A: an entry without an id is ignored');
      continue;
    }
    if (byId.has(entry.id)) {
      warn(`LEAP2A: duplicate entry id ${entry.id}; only the first is imported`);
      continue;
    }
    entries.push(entry);
    byId.set(entry.id, entry);
  }
  const author = readAuthor(childElements(root).find((n) => isAtom(n, 'author')));
  return {
    id: childText(root, 'id') ?? '',
    title: childText(root, 'title') ?? '',
    version,
    author,
    entries,
    byId,
    personEntryId: findPersonEntry(entries, author),
    bindings: root.bindings,
    incoming: indexIncomingLinks(entries),
  };
}

/** Plugins ask "who is part of / has part of this entry" for every entry: answered from an index, not a scan. */
function indexIncomingLinks(entries: readonly LeapEntry[]): Map<string, LeapEntry[]> {
  const index = new Map<string, LeapEntry[]>();
  for (const entry of entries) {
    for (const link of entry.links) {
      if (link.leapRel === undefined || link.href === '') continue;
      const key = `${link.leapRel} ${link.href}`;
      const list = index.get(key) ?? [];
      if (list[list.length - 1] !== entry) list.push(entry);
      index.set(key, list);
    }
  }
  return index;
}

/**
 * §6.3: the `version` element found by namespace URI (any 2010-07 alias), whatever its prefix. Without it, a
 * feed binding the 2010-07 predicates URI is still 2010-07 [Ours]; otherwise 2009-03.
 */
function detectVersion(root: XmlNode): '2010-07' | '2009-03' {
  const is2010 = (uri: string | undefined): boolean => uri !== undefined && LEAP_2010_PREDICATES.some((a) => a.replace(/\/$/, '') === uri.replace(/\/$/, ''));
  const versionNode = childElements(root).find((n) => n.local === 'version' && is2010(n.uri));
  if (versionNode) {
    if (textOf(versionNode).trim() !== LEAP_VERSION_2010) throw new MnetFault(FaultCode.Application, UNSUPPORTED_VERSION);
    return '2010-07';
  }
  for (const prefix in root.bindings) if (is2010(root.bindings[prefix])) return '2010-07';
  return '2009-03';
}

/** §8 row 33 [Mahara]: undeclared namespaces are only worth a warning. */
function warnUndeclared(bindings: NamespaceBindings, warn: (message: string) => void): void {
  const declared = new Set<NamespaceRole>();
  for (const prefix in bindings) {
    for (const role of ['rdf', 'leap', 'categories'] as const) if (isInRole(bindings[prefix], role)) declared.add(role);
  }
  for (const role of ['rdf', 'leap', 'categories'] as const) {
    if (!declared.has(role)) warn(`LEAP2A: the ${role} namespace is not declared`);
  }
}

const isAtom = (node: XmlNode, local: string): boolean => node.local === local && isInRole(node.uri, 'atom');
const inRole = (role: NamespaceRole) => (uri: string): boolean => isInRole(uri, role);

function childText(node: XmlNode, local: string): string | undefined {
  const child = childElements(node).find((c) => isAtom(c, local));
  return child ? textOf(child).trim() : undefined;
}

function readEntry(node: XmlNode, index: number): LeapEntry {
  const children = childElements(node);
  const types: string[] = [];
  const links: LeapLink[] = [];
  const categories: LeapCategory[] = [];
  let maharaPlugin: string | undefined;
  let maharaType: string | undefined;
  for (const child of children) {
    if (child.local === 'type' && isInRole(child.uri, 'rdf')) {
      const resource = attrOf(child, 'resource', inRole('rdf'));
      const term = resource === undefined ? undefined : curieTerm(resource, 'leaptype', child.bindings);
      if (term !== undefined) types.push(term);
    } else if (isAtom(child, 'link')) {
      links.push(readLink(child));
    } else if (isAtom(child, 'category')) {
      categories.push(readCategory(child));
    } else if (child.local === 'artefactplugin' && isInRole(child.uri, 'mahara')) {
      maharaPlugin = attrOf(child, 'plugin', inRole('mahara')) ?? attrOf(child, 'plugin');
      maharaType = attrOf(child, 'type', inRole('mahara')) ?? attrOf(child, 'type');
    }
  }
  const tags = [...new Set(categories.filter((c) => !c.hasScheme).map((c) => (c.label ?? c.term).trim()).filter((t) => t !== ''))];
  return {
    id: childText(node, 'id') ?? '',
    index,
    title: childText(node, 'title') ?? '',
    summaryNode: children.find((c) => isAtom(c, 'summary')),
    contentNode: children.find((c) => isAtom(c, 'content')),
    published: childText(node, 'published'),
    updated: childText(node, 'updated'),
    types,
    links,
    categories,
    tags,
    maharaPlugin,
    maharaType,
    author: readAuthor(children.find((c) => isAtom(c, 'author'))),
    node,
  };
}

function readLink(node: XmlNode): LeapLink {
  // Atom: a link without rel is rel="alternate".
  const rel = attrOf(node, 'rel') ?? 'alternate';
  const order = attrOf(node, 'display_order', inRole('leap'));
  const displayOrder = order !== undefined && /^\s*-?\d+\s*$/.test(order) ? Number(order) : undefined;
  return {
    rel,
    leapRel: curieTerm(rel, 'leap', node.bindings),
    href: (attrOf(node, 'href') ?? '').trim(),
    type: attrOf(node, 'type'),
    length: attrOf(node, 'length'),
    displayOrder,
  };
}

function readCategory(node: XmlNode): LeapCategory {
  const schemeValue = attrOf(node, 'scheme');
  const schemeTerm = schemeValue === undefined || schemeValue.trim() === '' ? undefined : curieTerm(schemeValue, 'categories', node.bindings);
  return {
    term: (attrOf(node, 'term') ?? '').trim(),
    label: attrOf(node, 'label'),
    scheme: schemeTerm?.replace(/#$/, ''),
    hasScheme: schemeValue !== undefined && schemeValue.trim() !== '',
  };
}

function readAuthor(node: XmlNode | undefined): LeapAuthor | undefined {
  if (!node) return undefined;
  return { name: childText(node, 'name'), email: childText(node, 'email'), uri: childText(node, 'uri') };
}

/** §6.5: the feed's first author/uri names an entry, or an entry is `person_type# Self`. */
function findPersonEntry(entries: readonly LeapEntry[], author: LeapAuthor | undefined): string | undefined {
  if (author?.uri !== undefined && entries.some((e) => e.id === author.uri)) return author.uri;
  return entries.find((e) => hasCategory(e, 'person_type', 'Self'))?.id;
}

// ---- questions importers ask ----

export function isType(entry: LeapEntry, type: string): boolean {
  return entry.types.includes(type);
}

/** A category in the LEAP categories namespace, e.g. (`selection_type`, `Folder`). */
export function hasCategory(entry: LeapEntry, scheme: string, term: string): boolean {
  return entry.categories.some((c) => c.scheme === scheme && c.term === term);
}

export function categoryTerm(entry: LeapEntry, scheme: string): string | undefined {
  return entry.categories.find((c) => c.scheme === scheme)?.term;
}

/** Hrefs of the entry's links with a LEAP predicate (`has_part`, …), in document order. */
export function leapLinks(entry: LeapEntry, predicate: string): string[] {
  return entry.links.filter((l) => l.leapRel === predicate && l.href !== '').map((l) => l.href);
}

/** Hrefs of plain Atom relations (`enclosure`, `related`), compared literally (§6.3). */
export function atomLinks(entry: LeapEntry, rel: string): LeapLink[] {
  return entry.links.filter((l) => l.rel === rel && l.href !== '');
}

/** Entries that name `target` in a `predicate` link, in document order. */
export function entriesLinkingTo(feed: LeapFeed, target: string, predicate: string): readonly LeapEntry[] {
  return feed.incoming.get(`${predicate} ${target}`) ?? [];
}

/** The has_part hrefs in display order: `leap2:display_order` first where given, then link order (§6.6 step 9). */
export function orderedParts(entry: LeapEntry): string[] {
  return entry.links
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.leapRel === 'has_part' && l.href !== '')
    .sort((a, b) => (a.l.displayOrder ?? Number.MAX_SAFE_INTEGER) - (b.l.displayOrder ?? Number.MAX_SAFE_INTEGER) || a.i - b.i)
    .map(({ l }) => l.href);
}
