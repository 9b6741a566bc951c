import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { decodeMethodCall, decodeMethodResponse, type XmlRpcValue } from '../../../src/mnet/codec.js';
import { parseXml } from '../../../src/mnet/xml.js';
import { FaultCode } from '../../../src/errors.js';
import { faultCodeOf } from '../../helpers/faults.js';

const FIXTURES = new URL('../../fixtures/mnet/', import.meta.url);

interface Typed {
  type: string;
  value: unknown;
}
interface Side {
  files: { xmlrpc?: string };
  decoded:
    | { methodName: string; params: unknown[] }
    | { value: unknown }
    | { fault: { faultCode: number; faultString: string } };
  xmlrpc_typed: Typed[] | Typed | { fault: Typed };
}
interface Vector {
  id: string;
  request: Side;
  response: Side;
}

const vectors = (JSON.parse(readFileSync(new URL('vectors.json', FIXTURES), 'utf8')) as { vectors: Vector[] })
  .vectors;
const sides = vectors.flatMap((v) =>
  (['request', 'response'] as const)
    .filter((k) => v[k].files.xmlrpc !== undefined)
    .map((k) => ({ name: `${v.id} ${k}`, kind: k, side: v[k] })),
);

function load(side: Side) {
  return parseXml(readFileSync(new URL(side.files.xmlrpc!, FIXTURES)), FaultCode.NotXml);
}

/** Asserts that a decoded JS value has the JS type its XML-RPC type implies, recursively. */
function expectTyped(actual: XmlRpcValue, typed: Typed, path: string): void {
  const where = `${path} (${typed.type})`;
  switch (typed.type) {
    case 'string':
      expect(typeof actual, where).toBe('string');
      expect(actual, where).toBe(typed.value);
      break;
    case 'int':
    case 'i4':
    case 'i8':
      expect(typeof actual, where).toBe('number');
      expect(Number.isInteger(actual), where).toBe(true);
      expect(String(actual), where).toBe(typed.value);
      break;
    case 'double':
      expect(typeof actual, where).toBe('number');
      expect(actual, where).toBe(Number(typed.value));
      break;
    case 'boolean':
      expect(actual, where).toBe(typed.value === '1' || typed.value === 'true');
      break;
    case 'base64':
      expect(Buffer.isBuffer(actual), where).toBe(true);
      break;
    case 'array': {
      const items = typed.value as Typed[];
      expect(Array.isArray(actual), where).toBe(true);
      const arr = actual as XmlRpcValue[];
      expect(arr).toHaveLength(items.length);
      items.forEach((t, i) => expectTyped(arr[i]!, t, `${path}[${i}]`));
      break;
    }
    case 'struct': {
      const members = typed.value as Record<string, Typed>;
      expect(actual !== null && typeof actual === 'object' && !Array.isArray(actual), where).toBe(true);
      const struct = actual as Record<string, XmlRpcValue>;
      expect(Object.keys(struct).sort(), where).toEqual(Object.keys(members).sort());
      for (const [k, t] of Object.entries(members)) expectTyped(struct[k]!, t, `${path}.${k}`);
      break;
    }
    default:
      throw new Error(`fixture uses a type the test does not know: ${typed.type}`);
  }
}

const call = (xml: string) => decodeMethodCall(parseXml(xml, FaultCode.NotXml));
const response = (xml: string) => decodeMethodResponse(parseXml(xml, FaultCode.NotXml));
/** Decodes one value through a one-parameter call, the way it arrives from a peer. */
const value = (valueXml: string) =>
  call(`<methodCall><methodName>a/b.php/c</methodName><params><param>${valueXml}</param></params></methodCall>`)
    .params[0];

describe('Moodle-made vectors', () => {
  it('has every vector with an XML-RPC document', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(11);
    expect(sides).toHaveLength(vectors.length * 2);
  });

  it.each(sides.filter((s) => s.kind === 'request'))('decodes $name', ({ side }) => {
    const decoded = decodeMethodCall(load(side));
    expect(decoded).toEqual(side.decoded);
    const typed = side.xmlrpc_typed as Typed[];
    expect(decoded.params).toHaveLength(typed.length);
    typed.forEach((t, i) => expectTyped(decoded.params[i]!, t, `params[${i}]`));
  });

  it.each(sides.filter((s) => s.kind === 'response'))('decodes $name', ({ side }) => {
    const decoded = decodeMethodResponse(load(side));
    if ('fault' in side.decoded) {
      const { faultCode, faultString } = side.decoded.fault;
      expect(decoded).toEqual({ fault: { code: faultCode, message: faultString } });
      const typed = (side.xmlrpc_typed as { fault: Typed }).fault;
      if (!('fault' in decoded)) throw new Error('expected a fault');
      expectTyped({ faultCode: decoded.fault.code, faultString: decoded.fault.message }, typed, 'fault');
    } else {
      expect(decoded).toEqual(side.decoded);
      if (!('value' in decoded)) throw new Error('expected a value');
      expectTyped(decoded.value, side.xmlrpc_typed as Typed, 'value');
    }
  });

  it('keeps Moodle flag parameters as strings: "1" and "" (not booleans)', () => {
    const wait = (id: string) => {
      const v = vectors.find((x) => x.id.startsWith(id))!;
      return decodeMethodCall(load(v.request)).params[4];
    };
    expect(wait('04')).toBe('1');
    expect(wait('07')).toBe('');
  });

  it('resolves character references and raw LFs alike', () => {
    const user = decodeMethodResponse(load(vectors.find((x) => x.id.startsWith('08'))!.response));
    expect(user).toMatchObject({ value: { firstname: 'Zoë', description: '<p>Student &amp; tester</p>' } });
    const cert = decodeMethodResponse(load(vectors.find((x) => x.id.startsWith('01'))!.response));
    expect((cert as { value: string }).value).toMatch(/^-----BEGIN CERTIFICATE-----\nMII/);
    const fault = decodeMethodResponse(load(vectors.find((x) => x.id.startsWith('10'))!.response));
    expect(fault).toMatchObject({ fault: { code: 7025 } });
    expect((fault as { fault: { message: string } }).fault.message).toMatch(/^-----BEGIN CERTIFICATE-----\nMII/);
  });
});

describe('values PHP peers send', () => {
  it('reads a bare <value> as a string, kept exactly', () => {
    expect(value('<value>student1</value>')).toBe('student1');
    expect(value('<value>  two  spaces \n</value>')).toBe('  two  spaces \n');
    expect(value('<value/>')).toBe('');
    expect(value('<value></value>')).toBe('');
    expect(value('<value>42</value>')).toBe('42');
  });

  it('keeps <string> text exactly, including whitespace and character references', () => {
    expect(value('<value><string> a\n b </string></value>')).toBe(' a\n b ');
    expect(value('<value><string/></value>')).toBe('');
    expect(value('<value><string>Zo&#235; &#10;r&#xE9;sum&#233; &lt;&amp;&gt;</string></value>')).toBe(
      'Zoë \nrésumé <&>',
    );
    expect(value('<value><string><![CDATA[<b>&]]></string></value>')).toBe('<b>&');
    expect(value('<value><string>1</string></value>')).toBe('1');
  });

  it('reads <int>, <i4>, <i8> as integers', () => {
    expect(value('<value><int>18</int></value>')).toBe(18);
    expect(value('<value><i4>-2147483648</i4></value>')).toBe(-2147483648);
    expect(value('<value><int> +7 </int></value>')).toBe(7);
    expect(value('<value><i8>9007199254740991</i8></value>')).toBe(Number.MAX_SAFE_INTEGER);
    expect(value('<value><i8>-4294967296</i8></value>')).toBe(-4294967296);
    expect(value('<value><ex:i8>5000000000</ex:i8></value>')).toBe(5000000000);
    expect(Object.is(value('<value><int>-0</int></value>'), 0)).toBe(true);
  });

  it('reads <boolean> 0/1 and true/false', () => {
    expect(value('<value><boolean>1</boolean></value>')).toBe(true);
    expect(value('<value><boolean>0</boolean></value>')).toBe(false);
    expect(value('<value><boolean>true</boolean></value>')).toBe(true);
    expect(value('<value><boolean>false</boolean></value>')).toBe(false);
  });

  it('reads <double>', () => {
    expect(value('<value><double>1.5</double></value>')).toBe(1.5);
    expect(value('<value><double>-0.25</double></value>')).toBe(-0.25);
    expect(value('<value><double>3</double></value>')).toBe(3);
    expect(value('<value><double>1e-7</double></value>')).toBe(1e-7);
  });

  it('reads <base64> leniently: line breaks, spaces, missing padding', () => {
    const bytes = Buffer.from('Hello from Moodle\n\u00e9', 'utf8');
    const b64 = bytes.toString('base64');
    expect(b64.endsWith('=')).toBe(true);
    expect(value(`<value><base64>${b64}</base64></value>`)).toEqual(bytes);
    const wrapped = `\n${b64.slice(0, 8)}\r\n${b64.slice(8, 16)} \t${b64.slice(16)}\n`;
    expect(value(`<value><base64>${wrapped}</base64></value>`)).toEqual(bytes);
    expect(value(`<value><base64>${b64.replace(/=+$/, '')}</base64></value>`)).toEqual(bytes);
    expect(value('<value><base64></base64></value>')).toEqual(Buffer.alloc(0));
  });

  it('reads <nil/> and <ex:nil/> as null', () => {
    expect(value('<value><nil/></value>')).toBeNull();
    expect(value('<value><ex:nil/></value>')).toBeNull();
    expect(value('<value><ex:nil></ex:nil></value>')).toBeNull();
    expect(value('<value><array><data><value><nil/></value></data></array></value>')).toEqual([null]);
  });

  it('keeps <dateTime.iso8601> as its string', () => {
    expect(value('<value><dateTime.iso8601>20260101T10:00:00</dateTime.iso8601></value>')).toBe(
      '20260101T10:00:00',
    );
  });

  it('reads empty arrays and structs as empty collections', () => {
    expect(value('<value><array><data/></array></value>')).toEqual([]);
    expect(value('<value><array><data>\n</data></array></value>')).toEqual([]);
    expect(value('<value><struct/></value>')).toEqual({});
    expect(value('<value><struct>\n</struct></value>')).toEqual({});
  });

  it('reads nested arrays and structs, ignoring layout whitespace', () => {
    const xml = `<value>
      <struct>
        <member> <name>list</name> <value><array> <data> <value><int>1</int></value> <value>two</value> </data> </array></value> </member>
        <member><name>42</name><value><struct><member><name>0</name><value><boolean>0</boolean></value></member></struct></value></member>
      </struct>
    </value>`;
    const v = value(xml);
    expect(v).toEqual({ list: [1, 'two'], 42: { 0: false } });
    expect(Object.keys(v as object)).toEqual(['42', 'list']);
    expect(Object.keys((v as Record<string, object>)['42']!)).toEqual(['0']);
  });

  it('keeps the last of repeated member names, as PHP does', () => {
    expect(
      value(
        '<value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct></value>',
      ),
    ).toEqual({ a: '2' });
  });

  it('does not let a __proto__ (or constructor) member pollute prototypes', () => {
    const v = value(
      '<value><struct>' +
        '<member><name>__proto__</name><value><struct><member><name>polluted</name><value>yes</value></member></struct></value></member>' +
        '<member><name>constructor</name><value>c</value></member>' +
        '</struct></value>',
    ) as Record<string, XmlRpcValue>;
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.keys(v)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(v['polluted']).toBeUndefined();
    expect(v['constructor']).toBe('c');
    // Members a peer did not send are absent, not inherited from Object.prototype.
    const plain = value('<value><struct><member><name>a</name><value>1</value></member></struct></value>') as Record<
      string,
      unknown
    >;
    expect(plain['toString']).toBeUndefined();
    expect(plain['hasOwnProperty']).toBeUndefined();
    expect(plain).toEqual({ a: '1' });
  });
});

describe('method calls', () => {
  it('reads an empty <params> and a missing <params> as no parameters', () => {
    expect(call('<methodCall><methodName>system/listServices</methodName><params>\n</params></methodCall>')).toEqual(
      { methodName: 'system/listServices', params: [] },
    );
    expect(call('<methodCall><methodName>system/listServices</methodName></methodCall>')).toEqual({
      methodName: 'system/listServices',
      params: [],
    });
    expect(call('<methodCall><methodName>system/x</methodName><params/></methodCall>').params).toEqual([]);
  });

  it('keeps parameter order and types', () => {
    const c = call(
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodCall>\n<methodName>a/b.php/c</methodName>\n<params>\n' +
        '<param><value><int>1</int></value></param>\n<param><value>x</value></param>\n' +
        '<param><value><boolean>1</boolean></value></param>\n</params>\n</methodCall>',
    );
    expect(c).toEqual({ methodName: 'a/b.php/c', params: [1, 'x', true] });
  });
});

describe('responses', () => {
  it('returns a fault as data, not an exception', () => {
    const r = response(
      '<methodResponse><fault><value><struct>' +
        '<member><name>faultString</name><value><string>a &lt;b&gt; &amp; c</string></value></member>' +
        '<member><name>faultCode</name><value><i4>6011</i4></value></member>' +
        '</struct></value></fault></methodResponse>',
    );
    expect(r).toEqual({ fault: { code: 6011, message: 'a <b> & c' } });
  });

  it('accepts a fault without faultString (empty message) and a bare-string faultString', () => {
    expect(
      response('<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>0</int></value></member></struct></value></fault></methodResponse>'),
    ).toEqual({ fault: { code: 0, message: '' } });
    expect(
      response(
        '<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member>' +
          '<member><name>faultString</name><value>bare</value></member></struct></value></fault></methodResponse>',
      ),
    ).toEqual({ fault: { code: 1, message: 'bare' } });
  });

  it('reads a value response (false, empty array)', () => {
    expect(response('<methodResponse><params><param><value><boolean>0</boolean></value></param></params></methodResponse>')).toEqual({ value: false });
    expect(response('<methodResponse><params><param><value><array><data/></array></value></param></params></methodResponse>')).toEqual({ value: [] });
  });
});

describe('malformed structures are fault 6008', () => {
  const CALL = (params: string) => `<methodCall><methodName>a/b.php/c</methodName><params>${params}</params></methodCall>`;
  const P = (v: string) => CALL(`<param>${v}</param>`);
  const FAULT = (members: string) =>
    `<methodResponse><fault><value><struct>${members}</struct></value></fault></methodResponse>`;
  const M = (name: string, v: string) => `<member><name>${name}</name>${v}</member>`;

  const calls: [string, string][] = [
    ['wrong root', '<methodResponse><params/></methodResponse>'],
    ['unrelated root', '<foo/>'],
    ['missing methodName', '<methodCall><params/></methodCall>'],
    ['empty methodName', '<methodCall><methodName></methodName><params/></methodCall>'],
    ['blank methodName', '<methodCall><methodName>  </methodName></methodCall>'],
    ['two methodNames', '<methodCall><methodName>a/b</methodName><methodName>c/d</methodName></methodCall>'],
    ['element in methodName', '<methodCall><methodName><b>x</b></methodName></methodCall>'],
    ['unknown element in methodCall', '<methodCall><methodName>a/b</methodName><extra/></methodCall>'],
    ['text in methodCall', '<methodCall>junk<methodName>a/b</methodName></methodCall>'],
    ['non-param in params', CALL('<value>x</value>')],
    ['param without value', CALL('<param/>')],
    ['param with two values', CALL('<param><value>a</value><value>b</value></param>')],
    ['unknown type', P('<value><float>1.5</float></value>')],
    ['two type elements', P('<value><int>1</int><int>2</int></value>')],
    ['text beside a type element', P('<value>x<int>1</int></value>')],
    ['int with fraction', P('<value><int>1.5</int></value>')],
    ['int with text', P('<value><int>12abc</int></value>')],
    ['empty int', P('<value><int></int></value>')],
    ['unsafe i8', P('<value><i8>9007199254740993</i8></value>')],
    ['huge int', P('<value><int>99999999999999999999</int></value>')],
    ['boolean 2', P('<value><boolean>2</boolean></value>')],
    ['boolean yes', P('<value><boolean>yes</boolean></value>')],
    ['double text', P('<value><double>abc</double></value>')],
    ['double NaN', P('<value><double>NaN</double></value>')],
    ['double INF', P('<value><double>INF</double></value>')],
    ['base64 garbage', P('<value><base64>@@@@</base64></value>')],
    ['base64 impossible length', P('<value><base64>QUJDR</base64></value>')],
    ['element in string', P('<value><string><b/></string></value>')],
    ['array without data', P('<value><array/></value>')],
    ['array with non-value', P('<value><array><data><int>1</int></data></array></value>')],
    ['struct with non-member', P('<value><struct><value>1</value></struct></value>')],
    ['member without name', P('<value><struct><member><value>1</value></member></struct></value>')],
    ['member without value', P('<value><struct><member><name>a</name></member></struct></value>')],
    ['member with two values', P(`<value><struct>${M('a', '<value>1</value><value>2</value>')}</struct></value>`)],
    ['element in member name', P(`<value><struct>${M('<i>a</i>', '<value>1</value>')}</struct></value>`)],
    ['nesting too deep', P('<value><array><data>'.repeat(70) + '<value/>' + '</data></array></value>'.repeat(70))],
  ];
  it.each(calls)('call: %s', (_name, xml) => {
    expect(faultCodeOf(() => call(xml))).toBe(FaultCode.NotXmlRpc);
  });

  const responses: [string, string][] = [
    ['wrong root', '<methodCall><methodName>a/b</methodName></methodCall>'],
    ['empty response', '<methodResponse/>'],
    ['no param', '<methodResponse><params/></methodResponse>'],
    ['two params', '<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>'],
    ['params and fault', '<methodResponse><params><param><value>a</value></param></params><fault/></methodResponse>'],
    ['unknown body', '<methodResponse><result/></methodResponse>'],
    ['empty fault', '<methodResponse><fault/></methodResponse>'],
    ['fault holding a string', '<methodResponse><fault><value>oops</value></fault></methodResponse>'],
    ['fault holding an array', '<methodResponse><fault><value><array><data/></array></value></fault></methodResponse>'],
    ['fault without faultCode', FAULT(M('faultString', '<value>x</value>'))],
    ['fault with string faultCode', FAULT(M('faultCode', '<value><string>7025</string></value>') + M('faultString', '<value>x</value>'))],
    ['fault with fractional faultCode', FAULT(M('faultCode', '<value><double>1.5</double></value>'))],
    ['fault with boolean faultCode', FAULT(M('faultCode', '<value><boolean>1</boolean></value>'))],
    ['fault with struct faultString', FAULT(M('faultCode', '<value><int>1</int></value>') + M('faultString', '<value><struct/></value>'))],
    ['bad value inside fault', FAULT(M('faultCode', '<value><int>x</int></value>'))],
  ];
  it.each(responses)('response: %s', (_name, xml) => {
    expect(faultCodeOf(() => response(xml))).toBe(FaultCode.NotXmlRpc);
  });
});
