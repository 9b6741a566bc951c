/**
 * An HTML tokenizer for imported post bodies and page content, following the WHATWG tokenizer states that
 * matter for safety (where a tag starts and ends, how attributes split, raw-text elements), so that what
 * the sanitiser lets through is read the same way by a browser. Every token keeps its source text: the
 * sanitiser copies clean tokens verbatim, which keeps a body that needs no change byte-identical
 * (portfolio-import.md §10 item 52: an `@@PLUGINFILE@@` body is stored unchanged).
 */

export interface HtmlAttribute {
  /** Lower-cased. */
  readonly name: string;
  /** As written, character references not decoded. */
  readonly rawValue: string;
}

export type HtmlToken =
  | { readonly kind: 'text'; readonly raw: string }
  | { readonly kind: 'start'; readonly name: string; readonly attrs: readonly HtmlAttribute[]; readonly selfClosing: boolean; readonly raw: string }
  | { readonly kind: 'end'; readonly name: string; readonly raw: string }
  | { readonly kind: 'comment'; readonly raw: string };

/** Elements whose content is not markup: it runs to the matching end tag. */
const RAW_TEXT = new Set(['script', 'style', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript', 'textarea', 'title']);

export const VOID_ELEMENTS: ReadonlySet<string> = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr',
]);

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';
const isAlpha = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z]$/.test(c);

export function tokenizeHtml(html: string): HtmlToken[] {
  const tokens: HtmlToken[] = [];
  let pos = 0;
  let textStart = 0;
  const flushText = (end: number): void => {
    if (end > textStart) tokens.push({ kind: 'text', raw: html.slice(textStart, end) });
  };

  while (pos < html.length) {
    const lt = html.indexOf('<', pos);
    if (lt < 0) break;
    const next = html[lt + 1];
    if (isAlpha(next) || (next === '/' && isAlpha(html[lt + 2]))) {
      const tag = readTag(html, lt);
      if (!tag) {
        // EOF inside a tag: a browser drops the unfinished tag.
        flushText(lt);
        textStart = html.length;
        pos = html.length;
        break;
      }
      flushText(lt);
      tokens.push(tag.token);
      pos = tag.end;
      textStart = pos;
      if (tag.token.kind === 'start' && RAW_TEXT.has(tag.token.name) && !tag.token.selfClosing) {
        const close = findRawTextEnd(html, pos, tag.token.name);
        if (close > pos) tokens.push({ kind: 'text', raw: html.slice(pos, close) });
        pos = close;
        textStart = pos;
      } else if (tag.token.kind === 'start' && tag.token.name === 'plaintext') {
        pos = html.length;
      }
      continue;
    }
    if (next === '!' || next === '?' || next === '/') {
      const end = commentEnd(html, lt);
      if (next === '/' && html[lt + 2] === '>') {
        // `</>` is dropped entirely.
        flushText(lt);
        pos = lt + 3;
        textStart = pos;
        continue;
      }
      if (next === '/' && lt + 2 >= html.length) break;
      flushText(lt);
      tokens.push({ kind: 'comment', raw: html.slice(lt, end) });
      pos = end;
      textStart = pos;
      continue;
    }
    pos = lt + 1; // a lone `<` is text
  }
  flushText(html.length);
  return tokens;
}

/** Where a comment, `<!…>` declaration, `<?…>` or bogus `</…>` ends (exclusive). */
function commentEnd(html: string, lt: number): number {
  if (html.startsWith('<!--', lt)) {
    if (html.startsWith('<!-->', lt)) return lt + 5;
    if (html.startsWith('<!--->', lt)) return lt + 6;
    const candidates = [html.indexOf('-->', lt + 4), html.indexOf('--!>', lt + 4)].filter((i) => i >= 0);
    if (candidates.length === 0) return html.length;
    const at = Math.min(...candidates);
    return at + (html.startsWith('-->', at) ? 3 : 4);
  }
  const gt = html.indexOf('>', lt + 2);
  return gt < 0 ? html.length : gt + 1;
}

function findRawTextEnd(html: string, from: number, name: string): number {
  const lower = html.toLowerCase();
  let at = from;
  for (;;) {
    const i = lower.indexOf(`</${name}`, at);
    if (i < 0) return html.length;
    const after = html[i + 2 + name.length];
    if (after === undefined || after === '>' || after === '/' || isSpace(after)) return i;
    at = i + 1;
  }
}

interface ReadTag {
  readonly token: HtmlToken;
  readonly end: number;
}

/** Reads a start or end tag at `lt`; undefined at EOF before its `>`. */
function readTag(html: string, lt: number): ReadTag | undefined {
  const isEnd = html[lt + 1] === '/';
  let pos = lt + (isEnd ? 2 : 1);
  const nameStart = pos;
  while (pos < html.length && !isSpace(html[pos]) && html[pos] !== '/' && html[pos] !== '>') pos++;
  const name = html.slice(nameStart, pos).toLowerCase();
  const attrs: HtmlAttribute[] = [];
  let selfClosing = false;
  for (;;) {
    while (isSpace(html[pos])) pos++;
    const c = html[pos];
    if (c === undefined) return undefined;
    if (c === '>') {
      pos++;
      break;
    }
    if (c === '/') {
      pos++;
      if (html[pos] === '>') {
        selfClosing = true;
        pos++;
        break;
      }
      continue;
    }
    // Attribute name: a leading `=` belongs to the name (WHATWG "unexpected equals sign").
    const attrStart = pos;
    pos++;
    while (pos < html.length && !isSpace(html[pos]) && html[pos] !== '/' && html[pos] !== '>' && html[pos] !== '=') pos++;
    const attrName = html.slice(attrStart, pos).toLowerCase();
    while (isSpace(html[pos])) pos++;
    let rawValue = '';
    if (html[pos] === '=') {
      pos++;
      while (isSpace(html[pos])) pos++;
      const q = html[pos];
      if (q === '"' || q === "'") {
        const close = html.indexOf(q, pos + 1);
        if (close < 0) return undefined;
        rawValue = html.slice(pos + 1, close);
        pos = close + 1;
      } else {
        const valueStart = pos;
        while (pos < html.length && !isSpace(html[pos]) && html[pos] !== '>') pos++;
        rawValue = html.slice(valueStart, pos);
      }
    }
    // The first of two same-named attributes wins, as in browsers.
    if (!attrs.some((a) => a.name === attrName)) attrs.push({ name: attrName, rawValue });
  }
  const raw = html.slice(lt, pos);
  const token: HtmlToken = isEnd ? { kind: 'end', name, raw } : { kind: 'start', name, attrs, selfClosing, raw };
  return { token, end: pos };
}
