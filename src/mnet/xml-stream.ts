import { MnetFault } from '../errors.js';

/**
 * A small, strict, streaming XML tokenizer for the few documents whose text is too big for parseXml's tree
 * (a fetch_file response, §7.4, §11: one text node of 64/27 × the zip size in the outer envelope and
 * 16/9 × in the signed one). It reads bytes in pieces of any size and reports start tags, end tags and text
 * to a handler, holding nothing but the current markup.
 *
 * Speed: text is found with Buffer.indexOf (native memchr) for `<` and `&` and handed over as slices of
 * the input, so a text node of a gigabyte costs one native scan and no copy; only markup (tags, comments,
 * processing instructions, entities: a few hundred bytes per document here) is looked at byte by byte.
 * sax, which parseXml uses, manages about 200 MB/s on such text (measured) before any base64 work.
 *
 * The same refusals as parseXml (mnet-protocol.md §7.5 step 3): a DOCTYPE (so any entity declaration) or
 * other `<!` declaration is refused; only the five predefined entities and character references are
 * understood; end tags must match; one root element; no text but whitespace outside it. Limits: element
 * depth and count, markup size, and the text directly inside each element, except in elements the handler asks
 * to stream. Every failure is an MnetFault with the caller's code.
 */

export interface XmlStreamHandler {
  /**
   * A start tag (`<a/>` too, followed at once by onClose). Return true to let this element's own text
   * exceed `maxTextBytes`: the handler takes it in pieces and bounds it itself.
   */
  onOpen(name: string, attrs: Readonly<Record<string, string>>): boolean | void;
  onClose(name: string): void;
  /**
   * Character data directly inside the innermost open element (entities resolved, CDATA sections
   * included), in pieces. The bytes are only valid during the call: copy what must be kept.
   */
  onText(text: Buffer): void;
}

export interface XmlStreamLimits {
  maxDepth: number;
  maxElements: number;
  /** Most text directly inside one element, except in elements the handler streams. */
  maxTextBytes: number;
  /** Longest tag, comment or processing instruction. */
  maxMarkupBytes: number;
}

export const DEFAULT_XML_STREAM_LIMITS: XmlStreamLimits = {
  maxDepth: 64,
  maxElements: 10_000,
  maxTextBytes: 1 << 20,
  maxMarkupBytes: 64 << 10,
};

// Where the tokenizer is between two pieces of input.
const TEXT = 0;
/** After `<`: a tag, a comment, a CDATA section or a processing instruction, not yet known which. */
const MARKUP = 1;
/** Inside a start or end tag, looking for the `>` that is not inside an attribute value. */
const TAG = 2;
const COMMENT = 3;
const PI = 4;
const CDATA = 5;
/** After `&`, looking for `;`. */
const ENTITY = 6;

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const SEMI = 0x3b;
const SLASH = 0x2f;
const QUESTION = 0x3f;
const BANG = 0x21;
const DASH = 0x2d;
const RBRACKET = 0x5d;
const EQ = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

const BOM = [0xef, 0xbb, 0xbf];
const CDATA_OPEN = Buffer.from('![CDATA[', 'latin1');
const COMMENT_OPEN = Buffer.from('!--', 'latin1');
const CDATA_CLOSE = Buffer.from(']]>', 'latin1');
/** `&name;` and `&#x10FFFF;` fit; anything longer is not an entity we know. */
const MAX_ENTITY = 10;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
/** ASCII name characters plus any non-ASCII byte (UTF-8 names; nothing here needs their fine print). */
const isNameStart = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
const isNameChar = (c: number) => isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
/** XML 1.0 Char production. */
const isXmlChar = (cp: number) =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

export class XmlStreamTokenizer {
  private readonly limits: XmlStreamLimits;
  private state = TEXT;
  /** Bytes of the current markup or entity (after its `<` or `&`), growing as pieces arrive. */
  private acc = Buffer.allocUnsafe(256);
  private accLength = 0;
  /** TAG: the quote an attribute value is open with, or 0. COMMENT: `-` seen just before. CDATA: `]` withheld. */
  private quote = 0;
  /** Per open element: its name, whether the handler streams its text, and how much text it had so far. */
  private readonly stack: string[] = [];
  private readonly streaming: boolean[] = [];
  private readonly textBytes: number[] = [];
  private elements = 0;
  private rootSeen = false;
  /** How much of a leading byte order mark has been seen; 3 once past it (or sure there is none). */
  private bom = 0;
  private ended = false;

  constructor(
    private readonly handler: XmlStreamHandler,
    private readonly faultCode: number,
    limits: Partial<XmlStreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_XML_STREAM_LIMITS, ...limits };
  }

  write(chunk: Buffer): void {
    if (this.ended) throw this.fail('data after the end');
    let pos = 0;
    const n = chunk.length;
    // A UTF-8 byte order mark before anything else is skipped (even split between pieces).
    while (this.bom < 3 && pos < n) {
      if (chunk[pos] === BOM[this.bom]) {
        this.bom++;
        pos++;
      } else if (this.bom === 0) this.bom = 3;
      else throw this.fail('malformed byte order mark');
    }
    // Positions of the next `&` and `<` in this chunk at or after `pos` (n if none), each searched again
    // only once passed: with one search per stop, a text full of `&#10;` would be rescanned to its `<` at
    // every entity.
    let amp = -1;
    let lt = -1;
    while (pos < n) {
      switch (this.state) {
        case TEXT: {
          if (amp < pos) {
            amp = chunk.indexOf(AMP, pos);
            if (amp < 0) amp = n;
          }
          if (lt < pos) {
            lt = chunk.indexOf(LT, pos);
            if (lt < 0) lt = n;
          }
          const stop = lt < amp ? lt : amp;
          if (stop > pos) this.text(chunk.subarray(pos, stop));
          pos = stop;
          if (pos < n) {
            this.state = chunk[pos] === LT ? MARKUP : ENTITY;
            this.accLength = 0;
            pos++;
          }
          break;
        }
        case MARKUP:
          pos = this.markup(chunk, pos);
          break;
        case TAG:
          pos = this.tag(chunk, pos);
          break;
        case COMMENT:
          pos = this.comment(chunk, pos);
          break;
        case PI:
          pos = this.pi(chunk, pos);
          break;
        case CDATA:
          pos = this.cdata(chunk, pos);
          break;
        case ENTITY:
          pos = this.entity(chunk, pos);
          break;
      }
    }
  }

  /** The document is complete: everything opened must be closed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.state !== TEXT) throw this.fail('unexpected end inside markup');
    if (this.stack.length > 0) throw this.fail(`unclosed <${this.stack[this.stack.length - 1]}>`);
    if (!this.rootSeen) throw this.fail('no root element');
  }

  private fail(reason: string): MnetFault {
    return new MnetFault(this.faultCode, `Payload is not a valid XML document: ${reason}`);
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const length = this.accLength + (to - from);
    if (length > this.limits.maxMarkupBytes) throw this.fail(`markup longer than ${this.limits.maxMarkupBytes} bytes`);
    if (length > this.acc.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(length, this.acc.length * 2), this.limits.maxMarkupBytes));
      this.acc.copy(grown, 0, 0, this.accLength);
      this.acc = grown;
    }
    chunk.copy(this.acc, this.accLength, from, to);
    this.accLength = length;
  }

  private text(text: Buffer): void {
    if (this.stack.length === 0) {
      // Outside the root only whitespace (layout) is allowed.
      for (let i = 0; i < text.length; i++) if (!isSpace(text[i]!)) throw this.fail('text outside the root element');
      return;
    }
    const top = this.stack.length - 1;
    const length = (this.textBytes[top] = this.textBytes[top]! + text.length);
    if (length > this.limits.maxTextBytes && !this.streaming[top]) {
      throw this.fail(`text longer than ${this.limits.maxTextBytes} bytes in <${this.stack[this.stack.length - 1]}>`);
    }
    this.handler.onText(text);
  }

  /** After `<`: collects just enough to tell a tag from `<!--`, `<![CDATA[`, `<?` or a refused `<!`. */
  private markup(chunk: Buffer, pos: number): number {
    while (pos < chunk.length) {
      const c = chunk[pos]!;
      const first = this.accLength === 0 ? c : this.acc[0]!;
      if (first === QUESTION) {
        this.state = PI;
        this.accLength = 0;
        this.quote = 0;
        return pos + 1;
      }
      if (first !== BANG) {
        this.state = TAG;
        this.quote = 0;
        return pos;
      }
      // `<!`: a comment, a CDATA section, or a declaration (DOCTYPE, ENTITY, ...), which is refused.
      this.append(chunk, pos, pos + 1);
      pos++;
      const seen = this.acc.subarray(0, this.accLength);
      if (seen.equals(COMMENT_OPEN)) {
        this.state = COMMENT;
        this.quote = 0;
        this.accLength = 0;
        return pos;
      }
      if (seen.equals(CDATA_OPEN)) {
        if (this.stack.length === 0) throw this.fail('CDATA outside the root element');
        this.state = CDATA;
        this.quote = 0;
        this.accLength = 0;
        return pos;
      }
      if (!COMMENT_OPEN.subarray(0, seen.length).equals(seen) && !CDATA_OPEN.subarray(0, seen.length).equals(seen)) {
        throw this.fail('DOCTYPE and other <! declarations are not accepted');
      }
    }
    return pos;
  }

  private tag(chunk: Buffer, pos: number): number {
    const n = chunk.length;
    let i = pos;
    let quote = this.quote;
    for (; i < n; i++) {
      const c = chunk[i]!;
      if (quote !== 0) {
        if (c === quote) quote = 0;
        else if (c === LT) throw this.fail('< inside an attribute value');
      } else if (c === GT) break;
      else if (c === DQUOTE || c === SQUOTE) quote = c;
      else if (c === LT) throw this.fail('< inside a tag');
    }
    this.quote = quote;
    this.append(chunk, pos, i);
    if (i === n) return n;
    this.state = TEXT;
    this.processTag(this.acc.subarray(0, this.accLength));
    return i + 1;
  }

  private comment(chunk: Buffer, pos: number): number {
    // `quote` counts the `-` just before; the comment ends at `-->`. Its text is dropped, only counted.
    const n = chunk.length;
    let dashes = this.quote;
    for (let i = pos; i < n; i++) {
      const c = chunk[i]!;
      if (c === GT && dashes >= 2) {
        this.state = TEXT;
        return i + 1;
      }
      dashes = c === DASH ? dashes + 1 : 0;
      if (++this.accLength > this.limits.maxMarkupBytes) throw this.fail(`comment longer than ${this.limits.maxMarkupBytes} bytes`);
    }
    this.quote = dashes;
    return n;
  }

  private pi(chunk: Buffer, pos: number): number {
    // Processing instructions (the XML declaration among them) are skipped, like parseXml (sax) does.
    const n = chunk.length;
    let question = this.quote;
    for (let i = pos; i < n; i++) {
      const c = chunk[i]!;
      if (c === GT && question) {
        this.state = TEXT;
        return i + 1;
      }
      question = c === QUESTION ? 1 : 0;
      if (++this.accLength > this.limits.maxMarkupBytes) throw this.fail(`processing instruction longer than ${this.limits.maxMarkupBytes} bytes`);
    }
    this.quote = question;
    return n;
  }

  private cdata(chunk: Buffer, pos: number): number {
    // `quote` holds how many `]` (0..2) at the end of the previous piece were withheld: they may start `]]>`.
    const n = chunk.length;
    while (this.quote > 0 && pos < n) {
      const c = chunk[pos]!;
      if (c === GT && this.quote === 2) {
        this.quote = 0;
        this.state = TEXT;
        return pos + 1;
      }
      if (c === RBRACKET && this.quote < 2) {
        this.quote++;
        pos++;
        continue;
      }
      // Not the end after all: the withheld brackets were text (a third `]` shifts the window by one).
      const give = c === RBRACKET ? 1 : this.quote;
      this.text(CDATA_CLOSE.subarray(0, give)); // `]`, or `]]`
      this.quote -= give;
      if (c === RBRACKET) {
        this.quote++;
        pos++;
      }
    }
    if (pos >= n) return n;
    const close = chunk.indexOf(CDATA_CLOSE, pos);
    if (close >= 0) {
      if (close > pos) this.text(chunk.subarray(pos, close));
      this.state = TEXT;
      return close + 3;
    }
    // Withhold a trailing `]` or `]]`.
    let keep = 0;
    while (keep < 2 && n - 1 - keep >= pos && chunk[n - 1 - keep] === RBRACKET) keep++;
    if (n - keep > pos) this.text(chunk.subarray(pos, n - keep));
    this.quote = keep;
    return n;
  }

  private entity(chunk: Buffer, pos: number): number {
    const room = MAX_ENTITY + 1 - this.accLength;
    const end = Math.min(chunk.length, pos + room);
    const semi = chunk.subarray(pos, end).indexOf(SEMI);
    if (semi < 0) {
      if (end - pos >= room) throw this.fail('unterminated or unknown entity');
      this.append(chunk, pos, end);
      return end;
    }
    this.append(chunk, pos, pos + semi);
    this.state = TEXT;
    this.text(Buffer.from(this.resolveEntity(this.acc.toString('latin1', 0, this.accLength)), 'utf8'));
    return pos + semi + 1;
  }

  private resolveEntity(name: string): string {
    const predefined = PREDEFINED[name];
    if (predefined !== undefined && Object.prototype.hasOwnProperty.call(PREDEFINED, name)) return predefined;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    const cp = m ? (m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2])) : NaN;
    if (!m || !isXmlChar(cp)) throw this.fail(`unknown entity &${name.slice(0, MAX_ENTITY)};`);
    return String.fromCodePoint(cp);
  }

  /** `tag` is what stood between `<` and `>`. */
  private processTag(tag: Buffer): void {
    if (tag[0] === SLASH) {
      let end = tag.length;
      while (end > 1 && isSpace(tag[end - 1]!)) end--;
      const name = tag.toString('utf8', 1, end);
      const open = this.stack.pop();
      if (open === undefined) throw this.fail(`</${name}> without a start tag`);
      if (open !== name) throw this.fail(`</${name}> closes <${open}>`);
      this.streaming.pop();
      this.textBytes.pop();
      this.handler.onClose(name);
      return;
    }
    const nameEnd = this.readName(tag, 0);
    const name = tag.toString('utf8', 0, nameEnd);
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
    let i = nameEnd;
    let selfClosing = false;
    for (;;) {
      const before = i;
      while (i < tag.length && isSpace(tag[i]!)) i++;
      if (i === tag.length) break;
      if (tag[i] === SLASH) {
        if (i !== tag.length - 1) throw this.fail(`stray / in <${name}>`);
        selfClosing = true;
        break;
      }
      if (i === before) throw this.fail(`no space before an attribute of <${name}>`);
      const attrEnd = this.readName(tag, i);
      const attr = tag.toString('utf8', i, attrEnd);
      i = attrEnd;
      while (i < tag.length && isSpace(tag[i]!)) i++;
      if (tag[i] !== EQ) throw this.fail(`attribute ${attr} of <${name}> has no value`);
      i++;
      while (i < tag.length && isSpace(tag[i]!)) i++;
      const quote = tag[i];
      if (quote !== DQUOTE && quote !== SQUOTE) throw this.fail(`attribute ${attr} of <${name}> is not quoted`);
      const close = tag.indexOf(quote, i + 1);
      if (close < 0) throw this.fail(`attribute ${attr} of <${name}> is not closed`);
      if (Object.prototype.hasOwnProperty.call(attrs, attr)) throw this.fail(`attribute ${attr} repeated in <${name}>`);
      attrs[attr] = this.attributeValue(tag.toString('utf8', i + 1, close));
      i = close + 1;
    }

    if (this.stack.length === 0) {
      if (this.rootSeen) throw this.fail('more than one root element');
      this.rootSeen = true;
    }
    if (++this.elements > this.limits.maxElements) throw this.fail(`more than ${this.limits.maxElements} elements`);
    if (this.stack.length >= this.limits.maxDepth) throw this.fail(`elements nested deeper than ${this.limits.maxDepth}`);
    this.stack.push(name);
    this.textBytes.push(0);
    this.streaming.push(this.handler.onOpen(name, attrs) === true);
    if (selfClosing) {
      this.stack.pop();
      this.streaming.pop();
      this.textBytes.pop();
      this.handler.onClose(name);
    }
  }

  private readName(tag: Buffer, from: number): number {
    if (from >= tag.length || !isNameStart(tag[from]!)) throw this.fail('malformed tag');
    let i = from + 1;
    while (i < tag.length && isNameChar(tag[i]!)) i++;
    return i;
  }

  private attributeValue(raw: string): string {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;]{0,10});?/g, (whole, name: string) => {
      if (!whole.endsWith(';')) throw this.fail('unterminated entity in an attribute value');
      return this.resolveEntity(name);
    });
  }
}
