import { MnetFault } from '../errors.js';
import { CdataScanner } from './xml-cdata.js';
import { XmlElementStack } from './xml-element-stack.js';
import { parseXmlTag } from './xml-tag.js';
import { DQUOTE, MAX_ENTITY, SQUOTE, resolveEntity } from './xml-syntax.js';

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
 *
 * This file turns bytes into tags, text and entities; a tag's own text is parsed in xml-tag.ts, CDATA
 * sections are scanned in xml-cdata.ts, and the rules about elements (matching, one root, limits) are kept
 * in xml-element-stack.ts.
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
const QUESTION = 0x3f;
const BANG = 0x21;
const DASH = 0x2d;

const BOM = [0xef, 0xbb, 0xbf];
const CDATA_OPEN = Buffer.from('![CDATA[', 'latin1');
const COMMENT_OPEN = Buffer.from('!--', 'latin1');

export class XmlStreamTokenizer {
  private readonly limits: XmlStreamLimits;
  private state = TEXT;
  /** Bytes of the current markup or entity (after its `<` or `&`), growing as pieces arrive. */
  private acc = Buffer.allocUnsafe(256);
  private accLength = 0;
  /** TAG: the quote an attribute value is open with, or 0. COMMENT: `-` seen just before. PI: `?` seen just before. */
  private quote = 0;
  private readonly elements: XmlElementStack;
  private readonly cdata: CdataScanner;
  /** How much of a leading byte order mark has been seen; 3 once past it (or sure there is none). */
  private bom = 0;
  private ended = false;
  /** Bound, as the tag parser and the element stack throw it too. */
  private readonly fail = (reason: string): MnetFault =>
    new MnetFault(this.faultCode, `Payload is not a valid XML document: ${reason}`);

  constructor(
    handler: XmlStreamHandler,
    private readonly faultCode: number,
    limits: Partial<XmlStreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_XML_STREAM_LIMITS, ...limits };
    this.elements = new XmlElementStack(handler, this.limits, this.fail);
    this.cdata = new CdataScanner((text) => this.elements.text(text));
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
          if (stop > pos) this.elements.text(chunk.subarray(pos, stop));
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
          pos = this.skipMarkup(chunk, pos, DASH, 2, 'comment');
          break;
        case PI:
          // Processing instructions (the XML declaration among them) are skipped, like parseXml (sax) does.
          pos = this.skipMarkup(chunk, pos, QUESTION, 1, 'processing instruction');
          break;
        case CDATA: {
          const end = this.cdata.scan(chunk, pos);
          if (end < 0) pos = n;
          else {
            this.state = TEXT;
            pos = end;
          }
          break;
        }
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
    this.elements.end();
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
        if (this.elements.depth === 0) throw this.fail('CDATA outside the root element');
        this.state = CDATA;
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
    const parsed = parseXmlTag(this.acc.subarray(0, this.accLength), this.fail);
    if (parsed.end) this.elements.close(parsed.name);
    else this.elements.open(parsed.name, parsed.attrs, parsed.selfClosing);
    return i + 1;
  }

  /**
   * A comment or processing instruction, dropped but counted: it ends at the first `>` after `needed`
   * `closer` bytes in a row (`-->`, `?>`); `quote` carries the run between pieces.
   */
  private skipMarkup(chunk: Buffer, pos: number, closer: number, needed: number, what: string): number {
    const n = chunk.length;
    let run = this.quote;
    for (let i = pos; i < n; i++) {
      const c = chunk[i]!;
      if (c === GT && run >= needed) {
        this.state = TEXT;
        return i + 1;
      }
      run = c === closer ? run + 1 : 0;
      if (++this.accLength > this.limits.maxMarkupBytes) throw this.fail(`${what} longer than ${this.limits.maxMarkupBytes} bytes`);
    }
    this.quote = run;
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
    const name = this.acc.toString('latin1', 0, this.accLength);
    this.elements.text(Buffer.from(resolveEntity(name, this.fail), 'utf8'));
    return pos + semi + 1;
  }
}
