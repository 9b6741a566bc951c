import { DQUOTE, SQUOTE, isSpace, resolveEntity } from './xml-syntax.js';

/**
 * Parses what stood between `<` and `>` of a start or end tag for the streaming tokenizer (xml-stream.ts).
 * Whether the tag fits the document (matching end tag, one root, limits) is the element stack's business
 * (xml-element-stack.ts).
 */

const SLASH = 0x2f;
const EQ = 0x3d;

/** ASCII name characters plus any non-ASCII byte (UTF-8 names; nothing here needs their fine print). */
const isNameStart = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
const isNameChar = (c: number) => isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;

export type XmlTag =
  | { end: true; name: string }
  | { end: false; name: string; attrs: Record<string, string>; selfClosing: boolean };

export function parseXmlTag(tag: Buffer, fail: (reason: string) => Error): XmlTag {
  if (tag[0] === SLASH) {
    let end = tag.length;
    while (end > 1 && isSpace(tag[end - 1]!)) end--;
    return { end: true, name: tag.toString('utf8', 1, end) };
  }
  const nameEnd = readName(tag, 0, fail);
  const name = tag.toString('utf8', 0, nameEnd);
  const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = nameEnd;
  let selfClosing = false;
  for (;;) {
    const before = i;
    while (i < tag.length && isSpace(tag[i]!)) i++;
    if (i === tag.length) break;
    if (tag[i] === SLASH) {
      if (i !== tag.length - 1) throw fail(`stray / in <${name}>`);
      selfClosing = true;
      break;
    }
    if (i === before) throw fail(`no space before an attribute of <${name}>`);
    const attrEnd = readName(tag, i, fail);
    const attr = tag.toString('utf8', i, attrEnd);
    i = attrEnd;
    while (i < tag.length && isSpace(tag[i]!)) i++;
    if (tag[i] !== EQ) throw fail(`attribute ${attr} of <${name}> has no value`);
    i++;
    while (i < tag.length && isSpace(tag[i]!)) i++;
    const quote = tag[i];
    if (quote !== DQUOTE && quote !== SQUOTE) throw fail(`attribute ${attr} of <${name}> is not quoted`);
    const close = tag.indexOf(quote, i + 1);
    if (close < 0) throw fail(`attribute ${attr} of <${name}> is not closed`);
    if (Object.prototype.hasOwnProperty.call(attrs, attr)) throw fail(`attribute ${attr} repeated in <${name}>`);
    attrs[attr] = attributeValue(tag.toString('utf8', i + 1, close), fail);
    i = close + 1;
  }
  return { end: false, name, attrs, selfClosing };
}

function readName(tag: Buffer, from: number, fail: (reason: string) => Error): number {
  if (from >= tag.length || !isNameStart(tag[from]!)) throw fail('malformed tag');
  let i = from + 1;
  while (i < tag.length && isNameChar(tag[i]!)) i++;
  return i;
}

function attributeValue(raw: string, fail: (reason: string) => Error): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;]{0,10});?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw fail('unterminated entity in an attribute value');
    return resolveEntity(name, fail);
  });
}
