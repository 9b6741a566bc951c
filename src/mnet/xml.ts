import sax from 'sax';
import { MnetFault } from '../errors.js';

/** One element of a parsed document: just what MNet reading needs, nothing of the DOM. */
export interface XmlElement {
  /** Qualified name as written (`ds:KeyInfo`). */
  readonly name: string;
  /** Name without prefix (`KeyInfo`). */
  readonly local: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Concatenated character data directly inside this element (entities and CDATA resolved). */
  text: string;
}

/**
 * Limits on the tree, checked as it is built. An envelope has about 25 elements and an XML-RPC call
 * rarely a few thousand; without a cap, a 16 MB body of empty elements costs seconds of CPU and
 * hundreds of MB before anyone is authenticated.
 */
const MAX_ELEMENTS = 100_000;
const MAX_DEPTH = 256;

class StopParsing extends Error {}

/** The tree being built, kept on the parser itself so the callbacks below can be shared. */
interface TreeParser extends sax.SAXParser {
  tree: { stack: XmlElement[]; root: XmlElement | undefined; elements: number };
}

// Thrown from inside the callbacks, it unwinds out of parser.write(), so nothing after it is read.
function stop(message: string): never {
  throw new StopParsing(message);
}

// The callbacks are module-level functions (sax calls them with the parser as `this`), not closures made
// per document: V8 remembers the functions sax last called, and a fresh closure per parse kept each
// finished tree alive through the young-generation collections, which then copied and promoted them
// (about 6 KB per envelope, a measurable share of the server's time).
function onOpenTag(this: TreeParser, tag: sax.Tag | sax.QualifiedTag): void {
  const tree = this.tree;
  if (++tree.elements > MAX_ELEMENTS) stop(`more than ${MAX_ELEMENTS} elements`);
  if (tree.stack.length >= MAX_DEPTH) stop(`elements nested deeper than ${MAX_DEPTH}`);
  const name = tag.name;
  const colon = name.indexOf(':');
  const el: XmlElement = {
    name,
    local: colon < 0 ? name : name.slice(colon + 1),
    attrs: tag.attributes as Record<string, string>,
    children: [],
    text: '',
  };
  const parent = tree.stack[tree.stack.length - 1];
  if (parent) parent.children.push(el);
  else if (tree.root) stop('more than one root element');
  else tree.root = el;
  tree.stack.push(el);
}

function onCloseTag(this: TreeParser): void {
  this.tree.stack.pop();
}

function onText(this: TreeParser, t: string): void {
  const current = this.tree.stack[this.tree.stack.length - 1];
  if (current) current.text += t;
  else if (t.trim() !== '') stop('text outside the root element');
}

function onError(err: Error): void {
  stop(err.message.split('\n')[0] ?? 'malformed XML');
}

function onDoctype(): void {
  stop('DOCTYPE declarations are not accepted');
}

/**
 * Parses a whole XML document into a small element tree.
 *
 * Security (mnet-protocol.md §7.5 step 3): a DOCTYPE is refused outright, so no internal or external entity
 * can ever be declared, let alone expanded (XXE, billion laughs); sax in strict mode rejects any entity
 * reference other than the five predefined ones and character references. Parsing stops at the first
 * problem. Every failure is an MnetFault with the caller's code, because the same parser serves the outer
 * body (6001), a decrypted envelope (6002) and a signed payload (6007).
 */
export function parseXml(input: Buffer | string, faultCode: number): XmlElement {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  // strictEntities (missing from @types/sax): otherwise sax expands HTML names such as &eacute;, which
  // libxml2 on the PHP side refuses.
  const options: sax.SAXOptions & { strictEntities: boolean } = { trim: false, normalize: false, xmlns: false, position: false, strictEntities: true };
  const parser = sax.parser(true, options) as TreeParser;
  parser.tree = { stack: [], root: undefined, elements: 0 };
  parser.onerror = onError;
  parser.ondoctype = onDoctype;
  parser.onopentag = onOpenTag;
  parser.onclosetag = onCloseTag;
  parser.ontext = onText;
  parser.oncdata = onText;

  try {
    parser.write(text).close();
  } catch (err) {
    const reason = err instanceof StopParsing ? err.message : err instanceof Error ? err.message.split('\n')[0]! : 'malformed XML';
    throw new MnetFault(faultCode, `Payload is not a valid XML document: ${reason}`);
  }
  const root = parser.tree.root;
  if (!root) throw new MnetFault(faultCode, 'Payload is not a valid XML document: no root element');
  return root;
}

/** The first child element with this local name, or undefined. */
export function childNamed(el: XmlElement, local: string): XmlElement | undefined {
  return el.children.find((c) => c.local === local);
}

/** XML-escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}
