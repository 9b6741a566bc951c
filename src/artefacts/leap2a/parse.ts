import fs from 'node:fs/promises';
import sax from 'sax';
import { FaultCode, MnetFault } from '../../errors.js';
import type { NamespaceBindings } from './namespaces.js';

/**
 * Reading leap2a.xml (portfolio-import.md §6.2, §7): Mahara's clean-up of the text first, then a strict,
 * namespace-aware parse into a small tree. A DOCTYPE is refused outright, so no entity can be declared,
 * internal or external (XXE, billion laughs); sax knows only the five predefined entities and character
 * references, and never fetches anything.
 */
export const LEAP_LIMITS = { maxBytes: 64 * 1024 * 1024, maxDepth: 256, maxEntries: 20_000 } as const;

export interface XmlAttr {
  /** Namespace URI ('' for an unprefixed attribute). */
  readonly uri: string;
  readonly local: string;
  readonly value: string;
}

export interface XmlNode {
  readonly uri: string;
  readonly local: string;
  /** The name as written (`leap2:version`): serialising xhtml content needs it. */
  readonly qname: string;
  readonly attrs: readonly XmlAttr[];
  /** In-scope namespace bindings, for CURIEs in attribute values (§6.3). */
  readonly bindings: NamespaceBindings;
  /** Elements and text in document order. */
  readonly children: Array<XmlNode | string>;
}

const ATOM = 'http://www.w3.org/2005/Atom';

/** What parsing noticed without failing: the trace gets these as warnings (§8 row 33). */
export interface ParsedLeapXml {
  readonly root: XmlNode;
  readonly warnings: readonly string[];
}

export async function readLeapXml(xmlPath: string): Promise<ParsedLeapXml> {
  const stat = await fs.stat(xmlPath);
  if (stat.size > LEAP_LIMITS.maxBytes) notAccepted(`the XML file is larger than ${LEAP_LIMITS.maxBytes / 1024 / 1024} MiB`);
  return parseLeapXml(await fs.readFile(xmlPath));
}

export function parseLeapXml(bytes: Buffer): ParsedLeapXml {
  if (bytes.length > LEAP_LIMITS.maxBytes) notAccepted(`the XML file is larger than ${LEAP_LIMITS.maxBytes / 1024 / 1024} MiB`);
  return parseCleanedXml(cleanLeapText(decodeXmlBytes(bytes)));
}

/**
 * §6.2 [Mahara]: `&nbsp;` becomes a plain space (exporters write it although XML does not define it), and
 * every character that is not legal in XML is removed: TAB, LF, CR, printable ASCII, U+0085,
 * U+00A0–U+D7FF, U+E000–U+FDCF, U+FDE0–U+FFFD and the supplementary planes without their last two code points.
 */
export function cleanLeapText(text: string): string {
  return text
    .replace(/&nbsp;/g, ' ')
    .replace(/[^\t\n\r\u0020-\u007e\u0085\u00a0-\ud7ff\ue000-\ufdcf\ufde0-\ufffd\u{10000}-\u{10ffff}]/gu, '')
    .replace(/[\u{1fffe}\u{1ffff}\u{2fffe}\u{2ffff}\u{3fffe}\u{3ffff}\u{4fffe}\u{4ffff}\u{5fffe}\u{5ffff}\u{6fffe}\u{6ffff}\u{7fffe}\u{7ffff}\u{8fffe}\u{8ffff}\u{9fffe}\u{9ffff}\u{afffe}\u{affff}\u{bfffe}\u{bffff}\u{cfffe}\u{cffff}\u{dfffe}\u{dffff}\u{efffe}\u{effff}\u{ffffe}\u{fffff}\u{10fffe}\u{10ffff}]/gu, '');
}

/** UTF-8 unless a BOM or the XML declaration says otherwise (Moodle and Mahara both write UTF-8). */
function decodeXmlBytes(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  const declared = /^(?:\ufeff)?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(bytes.subarray(0, 200).toString('latin1'))?.[1];
  const label = (declared ?? 'utf-8').toLowerCase();
  try {
    return new TextDecoder(label === 'utf8' ? 'utf-8' : label).decode(bytes);
  } catch {
    return notAccepted(`unsupported encoding ${declared ?? ''}`);
  }
}

class StopParsing extends Error {
  constructor(readonly accepted: boolean, message: string) {
    super(message);
  }
}

function parseCleanedXml(text: string): ParsedLeapXml {
  // strictEntities: without it sax expands HTML names such as &eacute;, which no XML parser (libxml2) does.
  const options: sax.SAXOptions & { strictEntities: boolean } = { xmlns: true, strictEntities: true, trim: false, normalize: false, position: true };
  const parser = sax.parser(true, options);
  const warnings: string[] = [];
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let entries = 0;
  const stop = (accepted: boolean, message: string): never => {
    throw new StopParsing(accepted, message);
  };

  parser.ondoctype = () => stop(false, 'DOCTYPE declarations are not accepted');
  parser.onerror = (err) => {
    const message = err.message.split('\n')[0] ?? 'malformed XML';
    // An undeclared prefix is a namespace error, not a well-formedness one; libxml2 carries on too (§8 row 33).
    if (message.startsWith('Unbound namespace prefix')) {
      warnings.push(`${message} at line ${parser.line + 1}`);
      parser.resume();
      return;
    }
    stop(true, `${message} at line ${parser.line + 1}, column ${parser.column + 1}`);
  };
  parser.onopentag = (tag) => {
    const t = tag as sax.QualifiedTag;
    if (stack.length >= LEAP_LIMITS.maxDepth) stop(false, `elements nested deeper than ${LEAP_LIMITS.maxDepth}`);
    if (stack.length === 1 && t.uri === ATOM && t.local === 'entry' && ++entries > LEAP_LIMITS.maxEntries) {
      stop(false, `more than ${LEAP_LIMITS.maxEntries} entries`);
    }
    const node: XmlNode = {
      uri: t.uri,
      local: t.local,
      qname: t.name,
      attrs: Object.values(t.attributes)
        .filter((a) => a.prefix !== 'xmlns' && !(a.prefix === '' && a.local === 'xmlns'))
        .map((a) => ({ uri: a.uri, local: a.local, value: a.value })),
      bindings: t.ns,
      children: [],
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(node);
    else root = node;
    stack.push(node);
  };
  parser.onclosetag = () => {
    stack.pop();
  };
  const addText = (t: string): void => {
    const current = stack[stack.length - 1];
    if (!current) return;
    const last = current.children[current.children.length - 1];
    if (typeof last === 'string') current.children[current.children.length - 1] = last + t;
    else current.children.push(t);
  };
  parser.ontext = addText;
  parser.oncdata = addText;

  try {
    parser.write(text).close();
  } catch (err) {
    if (err instanceof StopParsing && !err.accepted) notAccepted(err.message);
    const line = err instanceof StopParsing ? err.message : err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    throw new MnetFault(FaultCode.Application, `FATAL: XML not well formed\n${line}`);
  }
  if (!root) throw new MnetFault(FaultCode.Application, 'FATAL: XML not well formed\nno root element');
  return { root, warnings };
}

function notAccepted(reason: string): never {
  throw new MnetFault(FaultCode.Application, `FATAL: XML not accepted: ${reason}`);
}

// ---- reading the tree ----

export function childElements(node: XmlNode): XmlNode[] {
  return node.children.filter((c): c is XmlNode => typeof c !== 'string');
}

/** Text content of the element and its descendants. */
export function textOf(node: XmlNode): string {
  return node.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

export function attrOf(node: XmlNode, local: string, uri: string | ((u: string) => boolean) = ''): string | undefined {
  const match = typeof uri === 'string' ? (u: string) => u === uri : uri;
  return node.attrs.find((a) => a.local === local && match(a.uri))?.value;
}
