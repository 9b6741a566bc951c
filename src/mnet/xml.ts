import sax from 'sax';
import { MnetFault } from '../errors.js';

/** One element of a parsed document: just what MNet reading needs, nothing of the DOM. */
export interface XmlElement {
  /** Qualified name as written (`ds:KeyInfo`). */
  readonly name: string;
  /** Name without prefix (`KeyInfo`). */
  readonly local: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Concatenated character data directly inside this element (entities and CDATA resolved). */
  text: string;
}

/**
 * Parses a whole XML document into a small element tree.
 *
 * Security (mnet-protocol.md §7.5 step 3): a DOCTYPE is refused outright, so no internal or external entity
 * can ever be declared, let alone expanded (XXE, billion laughs); sax in strict mode rejects any entity
 * reference other than the five predefined ones and character references. Every failure is an MnetFault
 * with the caller's code, because the same parser serves the outer body (6001), a decrypted envelope
 * (6002) and a signed payload (6007).
 */
export function parseXml(input: Buffer | string, faultCode: number): XmlElement {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const parser = sax.parser(true, { trim: false, normalize: false, xmlns: false, position: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let failure: string | undefined;

  const fail = (message: string) => {
    failure ??= message;
  };

  parser.onerror = (err) => {
    fail(err.message.split('\n')[0] ?? 'malformed XML');
    // sax keeps going after resume(); we stop at the first error by discarding the rest.
    (parser as { error: Error | null }).error = null;
  };
  parser.ondoctype = () => fail('DOCTYPE declarations are not accepted');
  parser.onopentag = (tag) => {
    const name = tag.name;
    const colon = name.indexOf(':');
    const el: XmlElement = {
      name,
      local: colon < 0 ? name : name.slice(colon + 1),
      attrs: tag.attributes as Record<string, string>,
      children: [],
      text: '',
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else if (root) fail('more than one root element');
    else root = el;
    stack.push(el);
  };
  parser.onclosetag = () => {
    stack.pop();
  };
  const addText = (t: string) => {
    const current = stack[stack.length - 1];
    if (current) current.text += t;
    else if (t.trim() !== '') fail('text outside the root element');
  };
  parser.ontext = addText;
  parser.oncdata = addText;

  try {
    parser.write(text).close();
  } catch (err) {
    fail(err instanceof Error ? err.message.split('\n')[0]! : 'malformed XML');
  }
  if (failure !== undefined) throw new MnetFault(faultCode, `Payload is not a valid XML document: ${failure}`);
  if (!root) throw new MnetFault(faultCode, 'Payload is not a valid XML document: no root element');
  return root;
}

/** The first child element with this local name, or undefined. */
export function childNamed(el: XmlElement, local: string): XmlElement | undefined {
  return el.children.find((c) => c.local === local);
}

/** XML-escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}
