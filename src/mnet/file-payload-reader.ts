import { FaultCode, type MnetFault } from '../errors.js';
import { Base64Decoder } from './base64-stream.js';
import { localName } from './envelope-stream-reader.js';
import { isSpace } from './xml-syntax.js';
import { XmlStreamTokenizer, type XmlStreamHandler } from './xml-stream.js';

/** A fault payload is small; one bigger than this is not a fault we want to read. */
const MAX_FAULT_BYTES = 1 << 20;

/**
 * The XML-RPC payload of a fetch_file response (§2.2, with the shape rules of decodeMethodResponse):
 * `methodResponse/params/param/value` holding `<string>`, `<base64>` or bare text, decoded into the file;
 * or a `fault`, kept whole (it is small) for the codec. Anything else is BadResponse: a file result must
 * be a string.
 */
export class FilePayloadReader implements XmlStreamHandler {
  private readonly tokenizer: XmlStreamTokenizer;
  private readonly path: string[] = [];
  private mode: 'unknown' | 'params' | 'fault' = 'unknown';
  /** The payload from its start while it may still turn out to be a fault. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private params = 0;
  private values = 0;
  /** Decodes the value's text: bare, or of its one `<string>`/`<base64>` child. */
  private readonly value: Base64Decoder;
  private typed = 0;

  constructor(
    private readonly fault: (what: string) => MnetFault,
    onFileBytes: (bytes: Buffer) => void,
  ) {
    this.tokenizer = new XmlStreamTokenizer(this, FaultCode.BadResponse);
    this.value = new Base64Decoder(onFileBytes, (reason) => this.fault(`the result is not valid base64 (${reason})`));
  }

  write(bytes: Buffer): void {
    if (this.mode !== 'params') {
      this.headBytes += bytes.length;
      if (this.headBytes > MAX_FAULT_BYTES) throw this.fault(`a fault of more than ${MAX_FAULT_BYTES} bytes`);
      this.head.push(Buffer.from(bytes));
    }
    this.tokenizer.write(bytes);
  }

  /** The payload of a fault, for the codec; undefined when the file was written. */
  end(): Buffer | undefined {
    this.tokenizer.end();
    if (this.mode === 'fault') return Buffer.concat(this.head);
    if (this.mode !== 'params') throw this.fault('<methodResponse> must hold <params> or <fault>');
    if (this.values !== 1) throw this.fault('a response carries one value');
    return undefined;
  }

  onOpen(name: string): boolean {
    const local = localName(name);
    this.path.push(local);
    const depth = this.path.length;
    if (depth === 1) {
      if (local !== 'methodResponse') throw this.fault(`root element is <${name}>, not <methodResponse>`);
    } else if (depth === 2) {
      if (this.mode !== 'unknown') throw this.fault('<methodResponse> must hold <params> or <fault>');
      if (local === 'fault') this.mode = 'fault';
      else if (local === 'params') {
        this.mode = 'params';
        this.head = [];
      } else throw this.fault(`unexpected <${name}> in <methodResponse>`);
    } else if (this.mode === 'fault') {
      // Read by the codec at the end.
    } else if (depth === 3) {
      if (local !== 'param' || ++this.params > 1) throw this.fault('a response carries one value');
    } else if (depth === 4) {
      if (local !== 'value' || ++this.values > 1) throw this.fault('<param> must hold one <value>');
      return true;
    } else if (depth === 5) {
      if (local !== 'string' && local !== 'base64') throw this.fault(`the result is <${name}>, not a string`);
      if (++this.typed > 1 || this.value.sawData) throw this.fault('<value> must hold exactly one type element');
      return true;
    } else {
      throw this.fault(`<${this.path[depth - 2]}> must not contain elements`);
    }
    return false;
  }

  onClose(): void {
    if (this.mode === 'params' && this.path.length === 4) this.value.end();
    this.path.pop();
  }

  onText(text: Buffer): void {
    const depth = this.path.length;
    if (this.mode === 'params' && (depth === 5 || (depth === 4 && this.typed === 0))) {
      this.value.write(text);
      return;
    }
    if (this.mode === 'fault') return;
    // Anywhere else only layout whitespace (noStrayText).
    for (let i = 0; i < text.length; i++) {
      if (!isSpace(text[i]!)) throw this.fault(`unexpected text inside <${this.path[depth - 1]}>`);
    }
  }
}
