import { describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../../src/errors.js';
import { cleanLeapText, LEAP_LIMITS, parseLeapXml, textOf } from '../../../../src/artefacts/leap2a/parse.js';

/** §6.2 and §7: clean-up, DOCTYPE refused, caps, well-formedness. */
const faultOf = (fn: () => unknown): MnetFault => {
  try {
    fn();
  } catch (err) {
    if (err instanceof MnetFault) return err;
    throw err;
  }
  throw new Error('expected a fault');
};
const parse = (xml: string) => parseLeapXml(Buffer.from(xml, 'utf8'));
const ATOM = 'xmlns="http://www.w3.org/2005/Atom"';

describe('cleanLeapText', () => {
  it('replaces &nbsp; with a space', () => {
    expect(cleanLeapText('a&nbsp;b')).toBe('a b');
  });

  it('removes characters that are not legal in XML and keeps the rest', () => {
    const kept = '\t\n\r A~\u0085\u00a0\ud7ff\ue000\ufdcf\ufde0\ufffd\u{10000}\u{10fffd}';
    expect(cleanLeapText(kept)).toBe(kept);
    expect(cleanLeapText('a\u0000\u0008\u000b\u007f\u0084\u0086\u009fb\ufdd0\ufffe\uffff\u{1fffe}\u{10ffff}c')).toBe('abc');
  });
});

describe('parseLeapXml', () => {
  it('builds a namespace-aware tree', () => {
    const { root } = parse(`<feed ${ATOM} xmlns:l="http://terms.leapspecs.org/"><l:version>v</l:version><title>T&amp;U</title></feed>`);
    expect([root.uri, root.local]).toEqual(['http://www.w3.org/2005/Atom', 'feed']);
    const [version, title] = root.children as Array<Exclude<(typeof root.children)[number], string>>;
    expect([version!.uri, version!.local, version!.qname]).toEqual(['http://terms.leapspecs.org/', 'version', 'l:version']);
    expect(textOf(title!)).toBe('T&U');
  });

  it('accepts &nbsp; in the text (43)', () => {
    expect(textOf(parse(`<feed ${ATOM}><title>a&nbsp;b</title></feed>`).root)).toBe('a b');
  });

  it('refuses a DOCTYPE (42)', () => {
    const f = faultOf(() => parse(`<!DOCTYPE feed [<!ENTITY e SYSTEM "file:///etc/passwd">]><feed ${ATOM}>&e;</feed>`));
    expect(f.code).toBe(FaultCode.Application);
    expect(f.message).toBe('FATAL: XML not accepted: DOCTYPE declarations are not accepted');
  });

  it('refuses nesting deeper than the cap', () => {
    const deep = '<a>'.repeat(LEAP_LIMITS.maxDepth + 1) + '</a>'.repeat(LEAP_LIMITS.maxDepth + 1);
    expect(faultOf(() => parse(deep)).message).toBe(`FATAL: XML not accepted: elements nested deeper than ${LEAP_LIMITS.maxDepth}`);
  });

  it('refuses more entries than the cap', () => {
    const xml = `<feed ${ATOM}>${'<entry/>'.repeat(LEAP_LIMITS.maxEntries + 1)}</feed>`;
    expect(faultOf(() => parse(xml)).message).toBe(`FATAL: XML not accepted: more than ${LEAP_LIMITS.maxEntries} entries`);
  });

  it('refuses a file over the size cap', () => {
    const big = Buffer.alloc(LEAP_LIMITS.maxBytes + 1, 0x20);
    expect(faultOf(() => parseLeapXml(big)).message).toBe('FATAL: XML not accepted: the XML file is larger than 64 MiB');
  });

  it('reports malformed XML as "not well formed" plus one parser line', () => {
    const f = faultOf(() => parse(`<feed ${ATOM}><title>x</titel></feed>`));
    expect(f.message).toMatch(/^FATAL: XML not well formed\nUnexpected close tag|^FATAL: XML not well formed\nUnmatched closing tag/);
    expect(faultOf(() => parse(`<feed ${ATOM}><title>&eacute;</title></feed>`)).message).toMatch(/^FATAL: XML not well formed\n/);
  });

  it('only warns about an undeclared prefix (§8 row 33)', () => {
    const { warnings } = parse(`<feed ${ATOM}><leap2:version>x</leap2:version></feed>`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Unbound namespace prefix/);
  });

  it('decodes a declared ISO-8859-1 document', () => {
    const bytes = Buffer.concat([Buffer.from(`<?xml version="1.0" encoding="ISO-8859-1"?><feed ${ATOM}><title>`), Buffer.from([0xe9]), Buffer.from('</title></feed>')]);
    expect(textOf(parseLeapXml(bytes).root)).toBe('é');
  });
});
