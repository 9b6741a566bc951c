import { describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { XmlStreamTokenizer, type XmlStreamLimits } from '../../../src/mnet/xml-stream.js';
import { faultCodeOf } from '../../helpers/faults.js';

/**
 * The streaming tokenizer: the same document gives the same events whatever the pieces it arrives in,
 * and it refuses what parseXml refuses (DOCTYPE, unknown entities, mismatched tags, …) with the caller's
 * fault code.
 */

type Event = ['open', string, Record<string, string>] | ['close', string] | ['text', string];

/** Events for `doc` written in pieces of `size` bytes (0: one piece); adjacent text merged. */
function events(doc: string | Buffer, size = 0, limits: Partial<XmlStreamLimits> = {}, stream: string[] = []): Event[] {
  const out: Event[] = [];
  // Text as bytes until the next tag: a piece may end inside a UTF-8 character.
  let text: Buffer[] = [];
  const flushText = () => {
    if (text.length > 0) out.push(['text', Buffer.concat(text).toString('utf8')]);
    text = [];
  };
  const tokenizer = new XmlStreamTokenizer(
    {
      onOpen: (name, attrs) => {
        flushText();
        out.push(['open', name, { ...attrs }]);
        return stream.includes(name);
      },
      onClose: (name) => {
        flushText();
        out.push(['close', name]);
      },
      onText: (piece) => void text.push(Buffer.from(piece)),
    },
    FaultCode.BadResponse,
    limits,
  );
  const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(doc, 'utf8');
  const step = size || bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) tokenizer.write(bytes.subarray(i, i + step));
  tokenizer.end();
  flushText();
  return out;
}

const refused = (doc: string, limits: Partial<XmlStreamLimits> = {}) => {
  // Refused whole and byte by byte alike.
  const whole = faultCodeOf(() => events(doc, 0, limits));
  const bytewise = faultCodeOf(() => events(doc, 1, limits));
  expect(bytewise).toBe(whole);
  return whole;
};

const SAMPLE =
  '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!-- a comment -- with dashes -->\n' +
  '<root a="1" b=\'x &amp; &#65;&#x42; &lt;&gt;\'>\n  <child/>\n  <t>caf\u00e9 &amp; &quot;q&quot; &apos;a&apos; &#233;&#x1F600;</t>' +
  '<c><![CDATA[<not> a ]] tag ]]] &amp;]]></c><?pi stuff?><e  x = "a>b" ></e ></root>\n<!-- after -->\n';

describe('XmlStreamTokenizer', () => {
  it('reports tags, attributes (entities resolved) and text (entities and CDATA resolved)', () => {
    expect(events(SAMPLE)).toEqual([
      ['open', 'root', { a: '1', b: 'x & AB <>' }],
      ['text', '\n  '],
      ['open', 'child', {}],
      ['close', 'child'],
      ['text', '\n  '],
      ['open', 't', {}],
      ['text', 'caf\u00e9 & "q" \'a\' \u00e9\u{1F600}'],
      ['close', 't'],
      ['open', 'c', {}],
      ['text', '<not> a ]] tag ]]] &amp;'],
      ['close', 'c'],
      ['open', 'e', { x: 'a>b' }],
      ['close', 'e'],
      ['close', 'root'],
    ]);
  });

  it.each([1, 2, 3, 5, 7, 13, 64])('gives the same events in pieces of %i bytes', (size) => {
    expect(events(SAMPLE, size)).toEqual(events(SAMPLE));
  });

  it('hands a big text over in the pieces it arrived in, without a limit in a streamed element', () => {
    const big = 'A'.repeat(3 << 20);
    const pieces: number[] = [];
    const tokenizer = new XmlStreamTokenizer(
      { onOpen: (name) => name === 'big', onClose: () => {}, onText: (t) => void pieces.push(t.length) },
      FaultCode.BadResponse,
    );
    const doc = Buffer.from(`<r><big>${big}</big></r>`);
    for (let i = 0; i < doc.length; i += 65536) tokenizer.write(doc.subarray(i, i + 65536));
    tokenizer.end();
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(big.length);
    expect(pieces.length).toBeGreaterThan(40);
  });

  it('stays linear in a big text full of character references', () => {
    // Wrapped base64 with its line breaks written as `&#10;`, as Moodle writes control characters.
    const text = Array.from({ length: 80_000 }, () => 'QUJD'.repeat(19)).join('&#10;');
    let length = 0;
    const tokenizer = new XmlStreamTokenizer(
      { onOpen: () => true, onClose: () => {}, onText: (t) => void (length += t.length) },
      FaultCode.BadResponse,
    );
    const doc = Buffer.from(`<r>${text}</r>`);
    const started = performance.now();
    tokenizer.write(doc); // one piece of 6 MB: a rescan to the `<` per entity would scan ~240 GB
    tokenizer.end();
    expect(length).toBe(80_000 * 76 + 79_999);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it.each([
    ['a DOCTYPE', '<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'],
    ['an ENTITY declaration', '<!ENTITY x "y"><r/>'],
    ['an undefined entity', '<r>&x;</r>'],
    ['an entity without ;', '<r>&amp</r>'],
    ['a long unterminated entity', '<r>&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</r>'],
    ['a character reference to U+0000', '<r>&#0;</r>'],
    ['a character reference to a surrogate', '<r>&#xD800;</r>'],
    ['a mismatched end tag', '<r><a></b></r>'],
    ['an end tag without a start', '<r></r></r>'],
    ['an unclosed element', '<r><a>'],
    ['two roots', '<r/><r/>'],
    ['text outside the root', '<r/>text'],
    ['text before the root', 'text<r/>'],
    ['no root', '  <!-- nothing -->  '],
    ['an empty document', ''],
    ['an unquoted attribute', '<r a=1/>'],
    ['a repeated attribute', '<r a="1" a="2"/>'],
    ['< in an attribute value', '<r a="<"/>'],
    ['an attribute without a value', '<r a/>'],
    ['attributes without a space between them', '<r a="1"b="2"/>'],
    ['a tag without a name', '< r/>'],
    ['an unterminated tag', '<r><a'],
    ['an unterminated comment', '<r/><!-- x'],
    ['an unterminated CDATA section', '<r><![CDATA[x</r>'],
    ['CDATA outside the root', '<![CDATA[x]]><r/>'],
    ['a stray / in a tag', '<r / a="1"/>'],
  ])('refuses %s', (_case, doc) => {
    expect(refused(doc)).toBe(FaultCode.BadResponse);
  });

  it('enforces depth, element count, text and markup limits', () => {
    expect(refused('<a><a><a><a></a></a></a></a>', { maxDepth: 3 })).toBe(FaultCode.BadResponse);
    expect(events('<a><a><a></a></a></a>', 0, { maxDepth: 3 })).toHaveLength(6);
    expect(refused('<r><a/><a/><a/></r>', { maxElements: 3 })).toBe(FaultCode.BadResponse);
    expect(refused(`<r>${'x'.repeat(101)}</r>`, { maxTextBytes: 100 })).toBe(FaultCode.BadResponse);
    // The limit is per element, not per run of text: tags in between do not reset it.
    expect(refused(`<r>${'x'.repeat(60)}<a/>${'x'.repeat(60)}</r>`, { maxTextBytes: 100 })).toBe(FaultCode.BadResponse);
    expect(events(`<r>${'x'.repeat(60)}<a>${'x'.repeat(60)}</a></r>`, 0, { maxTextBytes: 100 })).toHaveLength(6);
    expect(events(`<r>${'x'.repeat(101)}</r>`, 0, { maxTextBytes: 100 }, ['r'])).toHaveLength(3);
    expect(refused(`<r a="${'x'.repeat(200)}"/>`, { maxMarkupBytes: 100 })).toBe(FaultCode.BadResponse);
    expect(refused(`<r><!--${'x'.repeat(200)}--></r>`, { maxMarkupBytes: 100 })).toBe(FaultCode.BadResponse);
  });

  it('uses the caller\'s fault code', () => {
    const tokenizer = new XmlStreamTokenizer({ onOpen: () => {}, onClose: () => {}, onText: () => {} }, FaultCode.DecryptedNotXml);
    expect(faultCodeOf(() => tokenizer.write(Buffer.from('<!DOCTYPE x>')))).toBe(FaultCode.DecryptedNotXml);
  });

  it('refuses data after end()', () => {
    const tokenizer = new XmlStreamTokenizer({ onOpen: () => {}, onClose: () => {}, onText: () => {} }, FaultCode.BadResponse);
    tokenizer.write(Buffer.from('<r/>'));
    tokenizer.end();
    expect(faultCodeOf(() => tokenizer.write(Buffer.from(' ')))).toBe(FaultCode.BadResponse);
  });
});
