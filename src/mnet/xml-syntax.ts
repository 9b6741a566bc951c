/**
 * The bits of XML syntax that the streaming tokenizer (xml-stream.ts), its tag parser (xml-tag.ts) and
 * the readers built on it share: whitespace, quotes, and the entities parseXml understands (§7.5 step 3:
 * only the five predefined ones and character references).
 */

export const DQUOTE = 0x22;
export const SQUOTE = 0x27;

/** `&name;` and `&#x10FFFF;` fit; anything longer is not an entity we know. */
export const MAX_ENTITY = 10;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
/** XML 1.0 Char production. */
const isXmlChar = (cp: number) =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

/** The text of `&name;`; anything but a predefined entity or a reference to a valid character is refused. */
export function resolveEntity(name: string, fail: (reason: string) => Error): string {
  const predefined = PREDEFINED[name];
  if (predefined !== undefined && Object.prototype.hasOwnProperty.call(PREDEFINED, name)) return predefined;
  const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
  const cp = m ? (m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2])) : NaN;
  if (!m || !isXmlChar(cp)) throw fail(`unknown entity &${name.slice(0, MAX_ENTITY)};`);
  return String.fromCodePoint(cp);
}
