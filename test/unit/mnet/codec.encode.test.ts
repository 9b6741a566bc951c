import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  decodeMethodCall,
  decodeMethodResponse,
  encodeFault,
  encodeMethodCall,
  encodeResponse,
  type XmlRpcValue,
} from '../../../src/mnet/codec.js';
import { parseXml } from '../../../src/mnet/xml.js';
import { FaultCode } from '../../../src/errors.js';
import { faultCodeOf } from '../../helpers/faults.js';

const FIXTURES = new URL('../../fixtures/mnet/', import.meta.url);
const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';

/** Every document the encoder produced in this file; the last test checks them for <nil/> (checklist 42). */
const produced: Buffer[] = [];
const keep = (b: Buffer) => (produced.push(b), b);

const enc = {
  call: (name: string, params: readonly XmlRpcValue[]) => keep(encodeMethodCall(name, params)),
  response: (v: XmlRpcValue) => keep(encodeResponse(v)),
  fault: (code: number, message: string) => keep(encodeFault(code, message)),
};
const dec = {
  call: (b: Buffer) => decodeMethodCall(parseXml(b, FaultCode.NotXml)),
  response: (b: Buffer) => decodeMethodResponse(parseXml(b, FaultCode.NotXml)),
};
const roundTrip = (v: XmlRpcValue) => dec.response(enc.response(v));

describe('encoding', () => {
  it('writes the declaration, a <string> and raw UTF-8', () => {
    const b = enc.call('portfolio/mahara/lib.php/send_content_intent', ['student42']);
    expect(b.toString('utf8')).toBe(
      `${DECLARATION}<methodCall><methodName>portfolio/mahara/lib.php/send_content_intent</methodName>` +
        '<params><param><value><string>student42</string></value></param></params></methodCall>',
    );
  });

  it('writes an empty <params></params> for a call with no parameters', () => {
    const b = enc.call('system/listServices', []);
    expect(b.toString('utf8')).toContain('<params></params>');
    expect(dec.call(b)).toEqual({ methodName: 'system/listServices', params: [] });
  });

  it('round-trips every type', () => {
    const value: XmlRpcValue = {
      s: 'text',
      empty: '',
      numeric: '1',
      spaces: '  a\n\tb  ',
      int: 18,
      neg: -7,
      zero: 0,
      int32max: 2147483647,
      int32min: -2147483648,
      big: 2147483648,
      bigneg: -9007199254740991,
      double: 1.5,
      tiny: 1e-7,
      huge: 1e21,
      t: true,
      f: false,
      bytes: Buffer.from([0, 1, 2, 250, 255]),
      list: [1, 'two', [3], {}],
      emptyList: [],
      nested: { a: { b: { c: ['deep'] } } },
      '42': 'numeric member name',
      'session.gc_maxlifetime': '1440',
    };
    expect(roundTrip(value)).toEqual({ value });
    for (const v of [
      'x',
      17,
      -2.25,
      true,
      false,
      Buffer.alloc(0),
      [],
      {},
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      -1e-300,
      123456789.123,
    ]) {
      expect(roundTrip(v)).toEqual({ value: v });
    }
  });

  it('chooses <int>, <i8> and <double> by magnitude', () => {
    const body = (v: number) => enc.response(v).toString('utf8');
    expect(body(2147483647)).toContain('<int>2147483647</int>');
    expect(body(-2147483648)).toContain('<int>-2147483648</int>');
    expect(body(2147483648)).toContain('<i8>2147483648</i8>');
    expect(body(-2147483649)).toContain('<i8>-2147483649</i8>');
    expect(body(-0)).toContain('<int>0</int>');
    expect(body(0.5)).toContain('<double>0.5</double>');
    // An integer past 2^53 is not exact any more: a double, shortest digits, no exponent syntax.
    expect(body(2 ** 60)).toContain('<double>1152921504606847000</double>');
    expect(roundTrip(2 ** 60)).toEqual({ value: 2 ** 60 });
    expect(body(1e21)).toContain('<double>1000000000000000000000</double>');
    expect(body(1.5e-7)).toContain('<double>0.00000015</double>');
    expect(body(-1.25e22)).toContain('<double>-12500000000000000000000</double>');
    expect(body(1.2345e-5)).toContain('<double>0.000012345</double>');
  });

  it('writes booleans as 1/0 and bytes as single-line <base64>', () => {
    expect(enc.response(true).toString()).toContain('<boolean>1</boolean>');
    expect(enc.response(false).toString()).toContain('<boolean>0</boolean>');
    const bytes = Buffer.alloc(300, 7);
    const b = enc.response(bytes).toString();
    expect(b).toContain(`<base64>${bytes.toString('base64')}</base64>`);
    expect(b).not.toMatch(/\n/);
    expect(roundTrip(new Uint8Array([1, 2, 3]) as Buffer)).toEqual({ value: Buffer.from([1, 2, 3]) });
  });

  it('writes arrays and structs in the standard shape', () => {
    expect(enc.response([1, { 'a<b': 'x' }]).toString()).toBe(
      `${DECLARATION}<methodResponse><params><param><value><array><data>` +
        '<value><int>1</int></value>' +
        '<value><struct><member><name>a&lt;b</name><value><string>x</string></value></member></struct></value>' +
        '</data></array></value></param></params></methodResponse>',
    );
  });

  it('escapes markup in strings and member names', () => {
    const v = { '<&>"': '<script>&amp;</script> "q" \'a\'' };
    const b = enc.response(v);
    expect(b.toString()).not.toContain('<script>');
    expect(b.toString()).toContain('&lt;script&gt;&amp;amp;&lt;/script&gt;');
    expect(roundTrip(v)).toEqual({ value: v });
  });

  it('writes non-ASCII as raw UTF-8 and round-trips it', () => {
    const v = { filename: 'résumé.txt', firstname: 'Zoë', emoji: '😀', cjk: '学生' };
    const b = enc.response(v);
    expect(b.includes(Buffer.from('résumé.txt', 'utf8'))).toBe(true);
    expect(b.includes(Buffer.from('Zoë', 'utf8'))).toBe(true);
    expect(b.toString('latin1')).not.toContain('&#');
    expect(roundTrip(v)).toEqual({ value: v });
    expect(dec.call(enc.call('a/b.php/c', ['Zoë', 'résumé']))).toEqual({
      methodName: 'a/b.php/c',
      params: ['Zoë', 'résumé'],
    });
  });

  it('keeps CR and LF: CR as a character reference, so XML line-end normalisation cannot eat it', () => {
    const s = 'line1\r\nline2\rline3\n';
    const b = enc.response(s);
    expect(b.toString()).toContain('line1&#13;\nline2&#13;line3\n');
    expect(b.toString()).not.toContain('\r');
    expect(roundTrip(s)).toEqual({ value: s });
  });

  it('encodes a member named __proto__ as data, without touching prototypes', () => {
    const v = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": "1"}') as XmlRpcValue;
    const b = enc.response(v);
    expect(b.toString()).toContain('<member><name>__proto__</name>');
    const back = roundTrip(v) as { value: Record<string, XmlRpcValue> };
    expect(Object.keys(back.value)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(back.value, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // A decoded (null-prototype) struct encodes again.
    expect(dec.response(enc.response(back.value))).toEqual(back);
  });
});

describe('faults', () => {
  it('writes the standard fault struct', () => {
    expect(enc.fault(6011, 'No such method').toString()).toBe(
      `${DECLARATION}<methodResponse><fault><value><struct>` +
        '<member><name>faultCode</name><value><int>6011</int></value></member>' +
        '<member><name>faultString</name><value><string>No such method</string></value></member>' +
        '</struct></value></fault></methodResponse>',
    );
  });

  it('escapes the fault string: <&> round-trips (checklist 22)', () => {
    const message = 'bad <value> & "quotes" > here </faultString></value>';
    const b = enc.fault(0, message);
    expect(b.toString()).toContain('bad &lt;value&gt; &amp; ');
    expect(dec.response(b)).toEqual({ fault: { code: 0, message } });
  });

  it('round-trips codes, multi-line and non-ASCII messages', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(dec.response(enc.fault(7025, pem))).toEqual({ fault: { code: 7025, message: pem } });
    expect(dec.response(enc.fault(6008, ''))).toEqual({ fault: { code: 6008, message: '' } });
    expect(dec.response(enc.fault(-1, 'Zoë'))).toEqual({ fault: { code: -1, message: 'Zoë' } });
  });

  it('refuses a non-integer fault code', () => {
    expect(faultCodeOf(() => encodeFault(1.5, 'x'))).toBe(FaultCode.Internal);
    expect(faultCodeOf(() => encodeFault(Number.NaN, 'x'))).toBe(FaultCode.Internal);
  });
});

describe('values that cannot be sent are Internal errors, never <nil/>', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const bad: [string, unknown][] = [
    ['null', null],
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 10n],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['null in an array', [1, null]],
    ['a hole in a sparse array', [1, , 3]], // eslint-disable-line no-sparse-arrays
    ['undefined in a struct', { a: undefined }],
    ['null deep in a struct', { a: { b: [{ c: null }] } }],
    ['a cyclic struct', cyclic],
    ['a NUL character', 'a\u0000b'],
    ['a control character', 'form\u000cfeed'],
    ['a lone surrogate', 'x\ud800y'],
    ['a control character in a member name', { 'a\u0001': 'x' }],
  ];
  it.each(bad)('refuses %s', (_name, v) => {
    expect(faultCodeOf(() => encodeResponse(v as XmlRpcValue))).toBe(FaultCode.Internal);
    expect(faultCodeOf(() => encodeMethodCall('a/b.php/c', ['ok', v as XmlRpcValue]))).toBe(FaultCode.Internal);
  });

  it('refuses a control character in a fault string', () => {
    expect(faultCodeOf(() => encodeFault(0, 'a\u0007b'))).toBe(FaultCode.Internal);
  });

  it('refuses a result struct with a faultCode member (spec 2.3)', () => {
    expect(faultCodeOf(() => encodeResponse({ faultCode: 1, faultString: 'x' }))).toBe(FaultCode.Internal);
    // Only at the top: nested it is ordinary data.
    expect(roundTrip([{ faultCode: 1 }])).toEqual({ value: [{ faultCode: 1 }] });
  });

  it('refuses an empty method name', () => {
    expect(faultCodeOf(() => encodeMethodCall('', []))).toBe(FaultCode.Internal);
  });

  it('keeps tab, LF and all other printable characters', () => {
    const s = 'a\tb\nc ~\u007f\u0085\u00a0\ufffd';
    expect(roundTrip(s)).toEqual({ value: s });
  });
});

describe('Moodle-made vectors survive decode → encode → decode', () => {
  interface Side {
    files: { xmlrpc?: string };
  }
  const vectors = (
    JSON.parse(readFileSync(new URL('vectors.json', FIXTURES), 'utf8')) as {
      vectors: { id: string; request: Side; response: Side }[];
    }
  ).vectors;
  const load = (side: Side) => parseXml(readFileSync(new URL(side.files.xmlrpc!, FIXTURES)), FaultCode.NotXml);

  it.each(vectors)('$id', (v) => {
    const call = decodeMethodCall(load(v.request));
    expect(dec.call(enc.call(call.methodName, call.params))).toEqual(call);
    const res = decodeMethodResponse(load(v.response));
    const again = 'fault' in res ? enc.fault(res.fault.code, res.fault.message) : enc.response(res.value);
    expect(dec.response(again)).toEqual(res);
  });
});

// Last in the file: tests run in order, so this sees every document the tests above produced.
it('never writes nil in any output (spec 2.2, checklist 42)', () => {
  expect(produced.length).toBeGreaterThan(50);
  for (const b of produced) expect(b.toString('utf8')).not.toMatch(/nil/i);
});
