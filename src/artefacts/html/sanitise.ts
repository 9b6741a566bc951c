import { decodeEntities, escapeAttribute, escapeText } from './entities.js';
import { tokenizeHtml, VOID_ELEMENTS, type HtmlAttribute } from './tokenize.js';

/**
 * The allow-list HTML policy for journal posts and page text (portfolio-import.md §6.7 [Ours]: imported
 * html/xhtml bodies are cleaned with the same policy as user-entered posts; Mahara stores them as received).
 *
 * What passes: the formatting, list, table and link elements editors produce, with presentational attributes;
 * `href`/`src`/`cite` only with http(s), mailto or ftp, a relative URL, or (for `img`) an inline raster
 * image; `style` only with plain declarations of a fixed set of properties. Scripts, styles, frames,
 * objects, forms, SVG/MathML and comments go, with their content where that content is code. Any other
 * element loses its tags but keeps its text. End tags are balanced, so a body cannot close the page's own
 * markup. A token that needs no change is copied as written.
 */
export interface SanitiseOptions {
  /**
   * Extra URLs to keep although their scheme is not allowed. The LEAP importer keeps in-content references
   * to entry ids (`portfolio:storedfile345`) so that the reference fix-up (§6.8) can rewrite them afterwards.
   */
  keepUrl?: (url: string) => boolean;
}

const ALLOWED = new Set([
  'a', 'abbr', 'acronym', 'address', 'article', 'aside', 'b', 'bdi', 'bdo', 'big', 'blockquote', 'br', 'caption', 'center',
  'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'font',
  'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre',
  'q', 's', 'samp', 'section', 'small', 'span', 'strike', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td',
  'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr',
]);

/** Dropped together with everything inside them. */
const DROP_WITH_CONTENT = new Set([
  'script', 'style', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'noscript', 'noembed', 'noframes',
  'template', 'textarea', 'title', 'head', 'svg', 'math', 'select', 'xmp', 'plaintext',
]);

// No `id` or `name`: an imported body must not clobber the page's own elements (HTML Purifier's default too).
const GLOBAL_ATTRS = new Set(['class', 'title', 'lang', 'dir', 'style']);
const ELEMENT_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  a: new Set(['href', 'rel', 'hreflang', 'type']),
  img: new Set(['src', 'alt', 'width', 'height', 'rel', 'align', 'border', 'hspace', 'vspace']),
  table: new Set(['border', 'cellpadding', 'cellspacing', 'summary', 'width', 'align', 'frame', 'rules', 'bgcolor']),
  td: new Set(['colspan', 'rowspan', 'valign', 'align', 'width', 'height', 'headers', 'scope', 'nowrap', 'bgcolor']),
  th: new Set(['colspan', 'rowspan', 'valign', 'align', 'width', 'height', 'headers', 'scope', 'nowrap', 'bgcolor']),
  tr: new Set(['valign', 'align', 'bgcolor']),
  thead: new Set(['valign', 'align']),
  tbody: new Set(['valign', 'align']),
  tfoot: new Set(['valign', 'align']),
  col: new Set(['span', 'width', 'align', 'valign']),
  colgroup: new Set(['span', 'width', 'align', 'valign']),
  ol: new Set(['start', 'type', 'reversed']),
  ul: new Set(['type']),
  li: new Set(['value', 'type']),
  blockquote: new Set(['cite']),
  q: new Set(['cite']),
  del: new Set(['cite', 'datetime']),
  ins: new Set(['cite', 'datetime']),
  time: new Set(['datetime']),
  font: new Set(['color', 'face', 'size']),
  p: new Set(['align']),
  div: new Set(['align']),
  hr: new Set(['align', 'size', 'width', 'noshade']),
  details: new Set(['open']),
};
const URL_ATTRS = new Set(['href', 'src', 'cite']);
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto', 'ftp']);

const CSS_PROPERTIES = new Set([
  'color', 'background-color', 'text-align', 'text-decoration', 'text-indent', 'font-weight', 'font-style', 'font-size',
  'font-family', 'line-height', 'vertical-align', 'width', 'height', 'max-width', 'min-width', 'float', 'clear', 'display',
  'list-style-type', 'white-space', 'border', 'border-collapse', 'border-color', 'border-style', 'border-width',
  'border-top', 'border-right', 'border-bottom', 'border-left', 'margin', 'margin-top', 'margin-right', 'margin-bottom',
  'margin-left', 'padding', 'padding-top', 'padding-right', 'padding-bottom', 'padding-left', 'direction',
]);
/** A declaration value made of words, numbers, colours, lists and functions such as rgb(); url() and the rest are refused in isSafeStyle. */
const CSS_VALUE = /^[\w\s.,%#'"+()/-]*$/;

export function sanitiseHtml(html: string, options: SanitiseOptions = {}): string {
  const out: string[] = [];
  const open: string[] = [];
  let dropping: string | null = null;

  for (const token of tokenizeHtml(html)) {
    if (dropping !== null) {
      if (token.kind === 'end' && token.name === dropping) dropping = null;
      continue;
    }
    switch (token.kind) {
      case 'comment':
        break;
      case 'text':
        // A `<` that did not start a tag is text to a browser too; escaping it keeps that true after editing.
        out.push(token.raw.replace(/</g, '&lt;'));
        break;
      case 'start': {
        if (DROP_WITH_CONTENT.has(token.name)) {
          if (!token.selfClosing && !VOID_ELEMENTS.has(token.name)) dropping = token.name;
          break;
        }
        if (!ALLOWED.has(token.name)) break;
        const { attrs, changed } = filterAttributes(token.name, token.attrs, options);
        const isVoid = VOID_ELEMENTS.has(token.name);
        if (!changed && isCleanTag(token.raw) && (isVoid || !token.selfClosing)) out.push(token.raw);
        else out.push(`<${token.name}${attrs.map(([n, v]) => ` ${n}="${escapeAttribute(v)}"`).join('')}${isVoid && token.selfClosing ? ' /' : ''}>`);
        if (isVoid) break;
        // An XHTML-style `<td/>` is an open tag to an HTML parser: write it as an empty element instead.
        if (token.selfClosing) out.push(`</${token.name}>`);
        else open.push(token.name);
        break;
      }
      case 'end': {
        if (!ALLOWED.has(token.name) || VOID_ELEMENTS.has(token.name)) break;
        const at = open.lastIndexOf(token.name);
        if (at < 0) break; // an end tag with no open element would close the page's markup
        while (open.length > at + 1) out.push(`</${open.pop()!}>`);
        open.pop();
        out.push(/^<\/[a-zA-Z0-9]+\s*>$/.test(token.raw) ? token.raw : `</${token.name}>`);
        break;
      }
    }
  }
  while (open.length > 0) out.push(`</${open.pop()!}>`);
  return out.join('');
}

/** Plain text as HTML (§6.7 post body rule): escaped, newlines as `<br>`, double spaces as `&nbsp;`. */
export function formatPlainText(text: string): string {
  return escapeText(text.replace(/\r\n?/g, '\n')).replace(/\n/g, '<br>').replace(/ {2}/g, '&nbsp;');
}

/** A tag written the ordinary way: names, `=`, quoted values without `<`/`>`, optional `/`. */
function isCleanTag(raw: string): boolean {
  return /^<[a-zA-Z][a-zA-Z0-9]*(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))?)*\s*\/?\s*>$/.test(raw);
}

function filterAttributes(
  element: string,
  attrs: readonly HtmlAttribute[],
  options: SanitiseOptions,
): { attrs: Array<[string, string]>; changed: boolean } {
  const kept: Array<[string, string]> = [];
  let changed = false;
  for (const attr of attrs) {
    const value = keptValue(element, attr, options);
    if (value === undefined) changed = true;
    else kept.push([attr.name, value]);
  }
  return { attrs: kept, changed };
}

/** The decoded value if the attribute may stay, undefined if it goes. */
function keptValue(element: string, attr: HtmlAttribute, options: SanitiseOptions): string | undefined {
  if (!GLOBAL_ATTRS.has(attr.name) && !ELEMENT_ATTRS[element]?.has(attr.name)) return undefined;
  const { text, unknownReference } = decodeEntities(attr.rawValue);
  if (URL_ATTRS.has(attr.name)) {
    if (unknownReference) return undefined;
    return isSafeUrl(text, element === 'img' && attr.name === 'src', options) ? text : undefined;
  }
  if (attr.name === 'style') return unknownReference || !isSafeStyle(text) ? undefined : text;
  return text;
}

/** Schemes that run code or load local or inline content when followed. */
const SCRIPTABLE_SCHEMES = new Set(['javascript', 'vbscript', 'data', 'file', 'blob', 'filesystem']);

export function isSafeUrl(url: string, isImage: boolean, options: SanitiseOptions = {}): boolean {
  // Browsers ignore ASCII tab/newline anywhere in a URL and leading/trailing controls and spaces.
  const cleaned = url.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(cleaned)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return !/[\u0000-\u001f]/.test(cleaned);
  }
  if (SAFE_SCHEMES.has(scheme)) return true;
  if (isImage && /^data:image\/(?:png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]*$/i.test(cleaned)) return true;
  // A caller may keep other URLs (a LEAP feed's entry ids, `portfolio:storedfile1`), never one a browser
  // would run or load: the scheme is judged on the cleaned URL, as the browser reads it.
  if (SCRIPTABLE_SCHEMES.has(scheme)) return false;
  return options.keepUrl?.(url) ?? false;
}

function isSafeStyle(style: string): boolean {
  if (/[\\@<>]|\/\*|url\s*\(|expression|behaviou?r|javascript|-moz-binding/i.test(style)) return false;
  return style
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .every((d) => {
      const colon = d.indexOf(':');
      if (colon < 0) return false;
      const property = d.slice(0, colon).trim().toLowerCase();
      const value = d.slice(colon + 1).trim();
      return CSS_PROPERTIES.has(property) && CSS_VALUE.test(value.replace(/\s*!important$/i, ''));
    });
}
