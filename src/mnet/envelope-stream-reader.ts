import { FaultCode, MnetFault } from '../errors.js';
import { Base64Decoder } from './base64-stream.js';
import { XmlStreamTokenizer, type XmlStreamHandler } from './xml-stream.js';

/**
 * What the streaming readers of a fetch_file response (file-response.ts) share: the fault for a broken
 * answer, local names, bounded small texts, and routing each element's text by its path.
 */

/** Small texts we keep (keys, wwwroot, timestamp, signature). */
const MAX_SMALL_TEXT = 64 << 10;

/** Every refusal of the peer's bytes is BadResponse, a broken answer, as for callOnce. */
export function malformedResponse(peerLabel: string): (what: string) => MnetFault {
  return (what) => new MnetFault(FaultCode.BadResponse, `${peerLabel} sent a malformed response: ${what}`);
}

/** The local name (`CipherValue` of `xenc:CipherValue`): envelope children are read by local name, as readers do. */
export function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/** Collects a small text, bounded; bytes until the end, so a character split between pieces stays whole. */
export class TextCollector {
  private readonly pieces: Buffer[] = [];
  private length = 0;
  private seen = false;

  constructor(
    private readonly fault: (what: string) => MnetFault,
    private readonly what: string,
  ) {}

  /** The element opens (again: refused, as a second one would be ambiguous). */
  open(): void {
    if (this.seen) throw this.fault(`more than one ${this.what}`);
    this.seen = true;
  }

  write(bytes: Buffer): void {
    this.length += bytes.length;
    if (this.length > MAX_SMALL_TEXT) throw this.fault(`${this.what} is too long`);
    this.pieces.push(Buffer.from(bytes));
  }

  get value(): string {
    return Buffer.concat(this.pieces).toString('utf8');
  }
}

/** Routes each element's text by its path; shared by the outer and the signed envelope readers. */
export abstract class EnvelopeReader implements XmlStreamHandler {
  protected readonly path: string[] = [];
  /** Per open element: where its text goes (a collector, a streaming decoder), or nowhere. */
  private readonly sinks: Array<TextCollector | Base64Decoder | undefined> = [];
  protected readonly tokenizer: XmlStreamTokenizer;
  protected readonly fault: (what: string) => MnetFault;

  constructor(peerLabel: string) {
    this.fault = malformedResponse(peerLabel);
    this.tokenizer = new XmlStreamTokenizer(this, FaultCode.BadResponse);
  }

  /** Where the text of the element at `path` goes; `root` is the root's qualified name. */
  protected abstract route(path: readonly string[], root: string): TextCollector | Base64Decoder | undefined;

  onOpen(name: string): boolean {
    this.path.push(this.path.length === 0 ? name : localName(name));
    const sink = this.route(this.path, name);
    if (sink instanceof TextCollector) sink.open();
    this.sinks.push(sink);
    return sink instanceof Base64Decoder;
  }

  onClose(): void {
    this.path.pop();
    const sink = this.sinks.pop();
    if (sink instanceof Base64Decoder) sink.end();
  }

  onText(text: Buffer): void {
    const sink = this.sinks[this.sinks.length - 1];
    if (sink) sink.write(text);
  }
}
