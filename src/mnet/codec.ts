/**
 * XML-RPC encoding and decoding for MNet (mnet-protocol.md §2). Only the plain XML-RPC document: the signed
 * and encrypted envelopes around it are other modules' business, and parsing is parseXml's (xml.ts).
 *
 * Encoding is narrow (what Moodle's PhpXmlRpc reads best); decoding is wide (whatever Moodle, Mahara and
 * the old PHP xmlrpc extension write, §2.2).
 */
import { FaultCode, MnetFault } from '../errors.js';
import { escapeXml, type XmlElement } from './xml.js';

export type XmlRpcValue = string | number | boolean | Buffer | null | XmlRpcValue[] | XmlRpcStruct;
export interface XmlRpcStruct {
  [member: string]: XmlRpcValue;
}
export interface MethodCall {
  methodName: string;
  params: XmlRpcValue[];
}
export type MethodResponse = { value: XmlRpcValue } | { fault: { code: number; message: string } };

/** Far deeper than any MNet value; stops a hostile document (or a cyclic object) from blowing the stack. */
const MAX_DEPTH = 64;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Our own mistake, not the peer's: Internal, never shown to the peer. */
function internal(message: string): MnetFault {
  return new MnetFault(FaultCode.Internal, `XML-RPC encoding: ${message}`);
}

/**
 * Characters XML 1.0 cannot carry at all, not even as character references, and unpaired surrogates
 * (which UTF-8 encoding would silently turn into U+FFFD). Refused rather than mangled.
 */
const UNREPRESENTABLE =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Raw UTF-8 with markup escaped (§2.2 "our encoder SHOULD write raw UTF-8 with &, <, > escaped"; §2.3 and
 * checklist 22 for fault strings). CR is written as `&#13;` because a conforming parser (libxml2 in PHP)
 * turns a raw CR or CRLF into LF, which would change the string the peer sees.
 */
function text(s: string): string {
  if (UNREPRESENTABLE.test(s)) throw internal('string contains a character XML 1.0 cannot carry');
  return escapeXml(s).replace(/\r/g, '&#13;');
}

/** XML-RPC doubles have no exponent syntax (PhpXmlRpc refuses `1e+21`), so expand String(n) by hand. */
function formatDouble(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = '', exp] = m;
  const digits = lead! + frac;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function isPlainObject(v: object): v is XmlRpcStruct {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function encodeValue(v: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw internal(`value nested deeper than ${MAX_DEPTH} levels (cyclic?)`);
  switch (typeof v) {
    case 'string':
      // Always a typed <string>, never a bare <value> (§2.2 "Encoders SHOULD always write <string>").
      return `<value><string>${text(v)}</string></value>`;
    case 'boolean':
      return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
    case 'number':
      if (Number.isSafeInteger(v)) {
        // <i8> only when <int> cannot hold it; every PHP peer reads <int>, PhpXmlRpc also reads <i8> (§2.2).
        const tag = v >= INT32_MIN && v <= INT32_MAX ? 'int' : 'i8';
        return `<value><${tag}>${v === 0 ? 0 : v}</${tag}></value>`;
      }
      if (!Number.isFinite(v)) throw internal(`${v} has no XML-RPC representation`);
      return `<value><double>${formatDouble(v)}</double></value>`;
    case 'object': {
      // §2.2: we MUST NOT emit <nil/> (Moodle 4.x's PhpXmlRpc refuses it), so null is the caller's bug;
      // methods that mean "nothing" return false instead.
      if (v === null) throw internal('null cannot be sent (<nil/> is refused by Moodle, §2.2)');
      if (v instanceof Uint8Array) return `<value><base64>${Buffer.from(v).toString('base64')}</base64></value>`;
      if (Array.isArray(v)) {
        let out = '<value><array><data>';
        // Indexed loop, not for-of: holes in a sparse array must reach the undefined check, not be skipped.
        for (let i = 0; i < v.length; i++) out += encodeValue(v[i], depth + 1);
        return `${out}</data></array></value>`;
      }
      if (!isPlainObject(v)) throw internal(`cannot encode an instance of ${v.constructor?.name ?? 'object'}`);
      let out = '<value><struct>';
      for (const name of Object.keys(v)) {
        out += `<member><name>${text(name)}</name>${encodeValue(v[name], depth + 1)}</member>`;
      }
      return `${out}</struct></value>`;
    }
    default:
      throw internal(`a value of type ${typeof v} cannot be sent`);
  }
}

function document(body: string): Buffer {
  return Buffer.from(DECLARATION + body, 'utf8');
}

export function encodeMethodCall(methodName: string, params: readonly XmlRpcValue[]): Buffer {
  if (methodName === '') throw internal('empty method name');
  // No params → an empty <params></params>, as Moodle writes it (§2.2).
  const encoded = params.map((p) => `<param>${encodeValue(p, 1)}</param>`).join('');
  return document(
    `<methodCall><methodName>${text(methodName)}</methodName><params>${encoded}</params></methodCall>`,
  );
}

export function encodeResponse(value: XmlRpcValue): Buffer {
  // §2.3: PHP clients call any struct result with a `faultCode` member a fault; never send one.
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    if (Object.prototype.hasOwnProperty.call(value, 'faultCode')) {
      throw internal('a result struct must not have a faultCode member (§2.3)');
    }
  }
  return document(`<methodResponse><params><param>${encodeValue(value, 1)}</param></params></methodResponse>`);
}

export function encodeFault(code: number, message: string): Buffer {
  if (!Number.isSafeInteger(code)) throw internal(`fault code ${code} is not an integer`);
  // The standard fault shape (§2.3): faultCode <int>, faultString <string>, escaped like every string.
  return document(
    '<methodResponse><fault><value><struct>' +
      `<member><name>faultCode</name>${encodeValue(code, 1)}</member>` +
      `<member><name>faultString</name>${encodeValue(message, 1)}</member>` +
      '</struct></value></fault></methodResponse>',
  );
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** The peer sent something that is XML but not XML-RPC (Mahara's 6008). */
function notXmlRpc(message: string): MnetFault {
  return new MnetFault(FaultCode.NotXmlRpc, `Payload is not a valid XML-RPC document: ${message}`);
}

/** Whitespace between elements is layout (Moodle indents its faults, §2.2); anything else is garbage. */
function noStrayText(el: XmlElement): void {
  if (el.text.trim() !== '') throw notXmlRpc(`unexpected text inside <${el.name}>`);
}

function leaf(el: XmlElement): string {
  if (el.children.length > 0) throw notXmlRpc(`<${el.name}> must not contain elements`);
  return el.text;
}

/** Exactly one child element with this local name, and no other child elements. */
function only(el: XmlElement, local: string): XmlElement {
  noStrayText(el);
  const child = el.children[0];
  if (el.children.length !== 1 || child?.local !== local) throw notXmlRpc(`<${el.name}> must hold one <${local}>`);
  return child;
}

const INTEGER = /^[+-]?\d+$/;
const DOUBLE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A struct as a null-prototype object: a member named `__proto__`, `constructor` or `toString` is then
 * just data; it can neither replace the prototype nor shadow/inherit Object.prototype methods.
 */
function newStruct(): XmlRpcStruct {
  return Object.create(null) as XmlRpcStruct;
}

function decodeValue(value: XmlElement, depth: number): XmlRpcValue {
  if (depth > MAX_DEPTH) throw notXmlRpc(`values nested deeper than ${MAX_DEPTH} levels`);
  // No type element = string, kept exactly; `<value/>` is "" (§2.2, the XML-RPC default type).
  if (value.children.length === 0) return value.text;
  noStrayText(value);
  if (value.children.length !== 1) throw notXmlRpc('<value> must hold exactly one type element');
  const typed = value.children[0]!;
  // By local name, so prefixed extension types (`ex:nil`, `ex:i8`) are accepted as well (§2.2).
  switch (typed.local) {
    case 'string':
      return leaf(typed); // exact: no trimming, character references already resolved by the parser
    case 'int':
    case 'i4':
    case 'i8': {
      const t = leaf(typed).trim();
      const n = Number(t);
      if (!INTEGER.test(t) || !Number.isSafeInteger(n)) throw notXmlRpc(`<${typed.name}> holds "${t}"`);
      return n === 0 ? 0 : n; // no -0 from "-0"
    }
    case 'boolean': {
      const t = leaf(typed).trim().toLowerCase();
      if (t === '1' || t === 'true') return true;
      if (t === '0' || t === 'false') return false;
      throw notXmlRpc(`<boolean> holds "${t}"`);
    }
    case 'double': {
      const t = leaf(typed).trim();
      const n = Number(t);
      if (!DOUBLE.test(t) || !Number.isFinite(n)) throw notXmlRpc(`<double> holds "${t}"`);
      return n;
    }
    case 'base64': {
      // Lenient (checklist 15): PHP wraps lines, some writers drop the `=` padding.
      const t = leaf(typed).replace(/\s+/g, '');
      if (!BASE64.test(t) || t.replace(/=+$/, '').length % 4 === 1) throw notXmlRpc('<base64> is not base64');
      return Buffer.from(t, 'base64');
    }
    case 'dateTime.iso8601':
      return leaf(typed).trim(); // no MNet method uses dates (§2.2); the caller may parse the string
    case 'nil':
      return null; // old PHP xmlrpc extension (<nil/>) and Apache extensions (<ex:nil/>), §2.2
    case 'array': {
      const data = only(typed, 'data');
      noStrayText(data);
      return data.children.map((v) => {
        if (v.local !== 'value') throw notXmlRpc(`<data> holds <${v.name}>`);
        return decodeValue(v, depth + 1);
      });
    }
    case 'struct': {
      noStrayText(typed);
      const struct = newStruct();
      for (const member of typed.children) {
        if (member.local !== 'member') throw notXmlRpc(`<struct> holds <${member.name}>`);
        noStrayText(member);
        const names = member.children.filter((c) => c.local === 'name');
        const values = member.children.filter((c) => c.local === 'value');
        if (names.length !== 1 || values.length !== 1 || member.children.length !== 2) {
          throw notXmlRpc('<member> must hold one <name> and one <value>');
        }
        // Names stay strings even when numeric (course ids, content hashes, §2.2); a repeated name
        // keeps the last value, as PHP's array assignment does.
        struct[leaf(names[0]!)] = decodeValue(values[0]!, depth + 1);
      }
      return struct;
    }
    default:
      throw notXmlRpc(`unknown value type <${typed.name}>`);
  }
}

/** `<params><param><value>…` → the values, in order. */
function decodeParams(params: XmlElement): XmlRpcValue[] {
  noStrayText(params);
  return params.children.map((param) => {
    if (param.local !== 'param') throw notXmlRpc(`<params> holds <${param.name}>`);
    return decodeValue(only(param, 'value'), 1);
  });
}

export function decodeMethodCall(root: XmlElement): MethodCall {
  if (root.local !== 'methodCall') throw notXmlRpc(`root element is <${root.name}>, not <methodCall>`);
  noStrayText(root);
  let methodName: string | undefined;
  let params: XmlRpcValue[] | undefined;
  for (const child of root.children) {
    if (child.local === 'methodName' && methodName === undefined) methodName = leaf(child).trim();
    // XML-RPC lets a call without parameters omit <params>; Moodle writes an empty one (§2.2).
    else if (child.local === 'params' && params === undefined) params = decodeParams(child);
    else throw notXmlRpc(`unexpected <${child.name}> in <methodCall>`);
  }
  if (!methodName) throw notXmlRpc('missing or empty <methodName>');
  // Only shape here: the name's syntax (§2.1, fault 6010) is the dispatcher's check.
  return { methodName, params: params ?? [] };
}

export function decodeMethodResponse(root: XmlElement): MethodResponse {
  if (root.local !== 'methodResponse') throw notXmlRpc(`root element is <${root.name}>, not <methodResponse>`);
  noStrayText(root);
  const body = root.children[0];
  if (root.children.length !== 1 || !body) throw notXmlRpc('<methodResponse> must hold <params> or <fault>');
  if (body.local === 'params') {
    const values = decodeParams(body);
    if (values.length !== 1) throw notXmlRpc(`a response carries one value, not ${values.length}`);
    return { value: values[0]! };
  }
  if (body.local !== 'fault') throw notXmlRpc(`unexpected <${body.name}> in <methodResponse>`);
  // §2.3: a struct with faultCode (int) and faultString. Returned, not thrown: the caller decides (7025
  // means "retry with this certificate", others are refusals).
  const struct = decodeValue(only(body, 'value'), 1);
  if (struct === null || typeof struct !== 'object' || Array.isArray(struct) || Buffer.isBuffer(struct)) {
    throw notXmlRpc('<fault> must hold a struct');
  }
  const code = struct['faultCode'];
  const message = struct['faultString'] ?? '';
  if (typeof code !== 'number' || !Number.isInteger(code)) throw notXmlRpc('fault without an integer faultCode');
  if (typeof message !== 'string') throw notXmlRpc('fault with a non-string faultString');
  return { fault: { code, message } };
}
