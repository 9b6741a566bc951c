import type { MnetFault } from '../errors.js';
import { isSpace } from './xml-syntax.js';
import type { XmlStreamHandler, XmlStreamLimits } from './xml-stream.js';

/**
 * The open elements of a document read by the streaming tokenizer (xml-stream.ts): end tags must match,
 * one root element, no text but whitespace outside it, and the depth, count and text limits. What passes
 * is reported to the handler.
 */
export class XmlElementStack {
  /** Per open element: its name, whether the handler streams its text, and how much text it had so far. */
  private readonly names: string[] = [];
  private readonly streaming: boolean[] = [];
  private readonly textBytes: number[] = [];
  private elements = 0;
  private rootSeen = false;

  constructor(
    private readonly handler: XmlStreamHandler,
    private readonly limits: XmlStreamLimits,
    private readonly fail: (reason: string) => MnetFault,
  ) {}

  get depth(): number {
    return this.names.length;
  }

  text(text: Buffer): void {
    if (this.names.length === 0) {
      // Outside the root only whitespace (layout) is allowed.
      for (let i = 0; i < text.length; i++) if (!isSpace(text[i]!)) throw this.fail('text outside the root element');
      return;
    }
    const top = this.names.length - 1;
    const length = (this.textBytes[top] = this.textBytes[top]! + text.length);
    if (length > this.limits.maxTextBytes && !this.streaming[top]) {
      throw this.fail(`text longer than ${this.limits.maxTextBytes} bytes in <${this.names[this.names.length - 1]}>`);
    }
    this.handler.onText(text);
  }

  open(name: string, attrs: Readonly<Record<string, string>>, selfClosing: boolean): void {
    if (this.names.length === 0) {
      if (this.rootSeen) throw this.fail('more than one root element');
      this.rootSeen = true;
    }
    if (++this.elements > this.limits.maxElements) throw this.fail(`more than ${this.limits.maxElements} elements`);
    if (this.names.length >= this.limits.maxDepth) throw this.fail(`elements nested deeper than ${this.limits.maxDepth}`);
    this.names.push(name);
    this.textBytes.push(0);
    this.streaming.push(this.handler.onOpen(name, attrs) === true);
    if (selfClosing) {
      this.names.pop();
      this.streaming.pop();
      this.textBytes.pop();
      this.handler.onClose(name);
    }
  }

  close(name: string): void {
    const open = this.names.pop();
    if (open === undefined) throw this.fail(`</${name}> without a start tag`);
    if (open !== name) throw this.fail(`</${name}> closes <${open}>`);
    this.streaming.pop();
    this.textBytes.pop();
    this.handler.onClose(name);
  }

  /** The document is over: everything opened must be closed. */
  end(): void {
    if (this.names.length > 0) throw this.fail(`unclosed <${this.names[this.names.length - 1]}>`);
    if (!this.rootSeen) throw this.fail('no root element');
  }
}
