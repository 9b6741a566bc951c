import { decodeEntities } from './entities.js';
import { tokenizeHtml, VOID_ELEMENTS } from './tokenize.js';

/**
 * An HTML fragment as a tree, and its XML serialisation: what Mahara's reference fix-up does to a field it
 * touches (portfolio-import.md §6.8, measured): libxml2's HTML parser builds the tree, then each top-level
 * element is written back with saveXML. So empty elements self-close (`<td></td>` → `<td/>`, `<br/ >` →
 * `<br/>`) and text between top-level elements is lost. The tree builder mimics libxml2 where it shows in
 * that output: `<x/>` is an empty element for any tag, a start tag auto-closes an open `p`/`li`/`td`/…
 * on top of the stack, and an end tag with nothing to close is ignored.
 */
export interface HtmlElement {
  readonly name: string;
  attrs: Array<[string, string]>;
  readonly children: HtmlNode[];
}

export type HtmlNode = HtmlElement | string;

const BLOCKS_CLOSING_P = new Set([
  'address', 'article', 'aside', 'blockquote', 'center', 'div', 'dl', 'fieldset', 'figure', 'footer', 'form', 'h1', 'h2',
  'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'ul',
]);

/** For a new start tag, which open element on top of the stack it closes first. */
function closesOnStart(newTag: string, open: string): boolean {
  if (open === 'p') return BLOCKS_CLOSING_P.has(newTag) || newTag === 'li';
  if (open === 'li') return newTag === 'li';
  if (open === 'dt' || open === 'dd') return newTag === 'dt' || newTag === 'dd';
  if (open === 'td' || open === 'th') return newTag === 'td' || newTag === 'th' || newTag === 'tr' || newTag === 'tbody' || newTag === 'thead' || newTag === 'tfoot';
  if (open === 'tr') return newTag === 'tr' || newTag === 'tbody' || newTag === 'thead' || newTag === 'tfoot';
  if (open === 'thead' || open === 'tbody' || open === 'tfoot') return newTag === 'tbody' || newTag === 'thead' || newTag === 'tfoot';
  if (open === 'option') return newTag === 'option';
  return false;
}

export function parseHtmlFragment(html: string): HtmlNode[] {
  const root: HtmlElement = { name: '#fragment', attrs: [], children: [] };
  const stack: HtmlElement[] = [root];
  const current = (): HtmlElement => stack[stack.length - 1]!;
  for (const token of tokenizeHtml(html)) {
    switch (token.kind) {
      case 'text':
        appendText(current(), decodeEntities(token.raw).text);
        break;
      case 'start': {
        while (stack.length > 1 && closesOnStart(token.name, current().name)) stack.pop();
        const el: HtmlElement = {
          name: token.name,
          attrs: token.attrs.map((a) => [a.name, decodeEntities(a.rawValue).text]),
          children: [],
        };
        current().children.push(el);
        if (!VOID_ELEMENTS.has(token.name) && !token.selfClosing) stack.push(el);
        break;
      }
      case 'end': {
        const at = stack.map((e) => e.name).lastIndexOf(token.name);
        if (at > 0) stack.length = at;
        break;
      }
      case 'comment':
        break;
    }
  }
  return root.children;
}

function appendText(parent: HtmlElement, text: string): void {
  const last = parent.children[parent.children.length - 1];
  if (typeof last === 'string') parent.children[parent.children.length - 1] = last + text;
  else parent.children.push(text);
}

/** Each top-level element as XML, concatenated; top-level text is dropped (measured Mahara, §6.8). */
export function serialiseTopLevelAsXml(nodes: readonly HtmlNode[]): string {
  return nodes.map((n) => (typeof n === 'string' ? '' : serialiseElementAsXml(n))).join('');
}

export function serialiseElementAsXml(el: HtmlElement): string {
  const attrs = el.attrs.map(([n, v]) => ` ${n}="${escapeXmlAttribute(v)}"`).join('');
  if (el.children.length === 0) return `<${el.name}${attrs}/>`;
  const inner = el.children.map((c) => (typeof c === 'string' ? escapeXmlText(c) : serialiseElementAsXml(c))).join('');
  return `<${el.name}${attrs}>${inner}</${el.name}>`;
}

/** Every element of the tree, depth first in document order. */
export function* walkElements(nodes: readonly HtmlNode[]): Generator<HtmlElement> {
  for (const n of nodes) {
    if (typeof n === 'string') continue;
    yield n;
    yield* walkElements(n.children);
  }
}

// libxml2's escaping: text gets &, <, > and CR; attribute values also ", TAB and LF.
const escapeXmlText = (t: string): string =>
  t.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
const escapeXmlAttribute = (v: string): string =>
  v.replace(/[&<>"\r\n\t]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;', '\n': '&#10;', '\t': '&#9;' })[c]!);
