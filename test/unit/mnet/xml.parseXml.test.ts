import { describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { parseXml } from '../../../src/mnet/xml.js';
import { faultCodeOf } from '../../helpers/faults.js';

describe('parseXml', () => {
  it('builds the tree with prefixes, attributes and resolved character data', () => {
    const root = parseXml('<?xml version="1.0"?><a x="1"><ds:b>Zo&#235; &amp; <![CDATA[<raw>]]></ds:b></a>', FaultCode.NotXml);
    expect(root).toMatchObject({ name: 'a', attrs: { x: '1' } });
    expect(root.children[0]).toMatchObject({ name: 'ds:b', local: 'b', text: 'Zoë & <raw>' });
  });

  it.each([
    ['a DOCTYPE (XXE)', '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>'],
    ['billion laughs', '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'],
    ['an undeclared entity', '<x>&foo;</x>'],
    ['a wrong close tag', '<x><y></x>'],
    ['two roots', '<x/><y/>'],
    ['text outside the root', 'hello'],
    ['nothing', ''],
  ])('refuses %s with the caller’s code', (_case, xml) => {
    expect(faultCodeOf(() => parseXml(xml, FaultCode.DecryptedNotXml))).toBe(FaultCode.DecryptedNotXml);
  });

  it('stops at the element cap instead of building a huge tree', () => {
    const many = `<r>${'<a/>'.repeat(100_001)}</r>`;
    expect(faultCodeOf(() => parseXml(many, FaultCode.NotXml))).toBe(FaultCode.NotXml);
    expect(() => parseXml(`<r>${'<a/>'.repeat(99_999)}</r>`, FaultCode.NotXml)).not.toThrow();
  });

  it('refuses nesting deeper than the cap', () => {
    const deep = '<a>'.repeat(257) + '</a>'.repeat(257);
    expect(faultCodeOf(() => parseXml(deep, FaultCode.NotXml))).toBe(FaultCode.NotXml);
    expect(() => parseXml('<a>'.repeat(256) + '</a>'.repeat(256), FaultCode.NotXml)).not.toThrow();
  });
});
