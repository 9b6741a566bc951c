import { describe, expect, it } from 'vitest';
import { parseHtmlFragment, serialiseTopLevelAsXml } from '../../../../src/artefacts/html/tree.js';

/** The measured re-serialisation of a field the reference fix-up touches (portfolio-import.md §6.8). */
const roundTrip = (html: string) => serialiseTopLevelAsXml(parseHtmlFragment(html));

describe('serialiseTopLevelAsXml(parseHtmlFragment())', () => {
  it('self-closes empty elements: <td></td> → <td/>, <br /> and <br/ > → <br/>', () => {
    expect(roundTrip('<table><tr><td></td><td>x<br /><br/ >y</td></tr></table>')).toBe('<table><tr><td/><td>x<br/><br/>y</td></tr></table>');
  });

  it('loses text between top-level elements', () => {
    expect(roundTrip('lead <p>a</p>\n\n<p>b</p>\n')).toBe('<p>a</p><p>b</p>');
  });

  it('escapes text and attributes as XML', () => {
    expect(roundTrip('<p title="a&quot;b&amp;c">x &lt; y &gt; z&nbsp;&amp;</p>')).toBe('<p title="a&quot;b&amp;c">x &lt; y &gt; z\u00a0&amp;</p>');
  });

  it('closes p, li and td implicitly, and ignores end tags with nothing open', () => {
    expect(roundTrip('<p>a<div>b</div></span>')).toBe('<p>a</p><div>b</div>');
    expect(roundTrip('<ul><li>a<li>b</ul>')).toBe('<ul><li>a</li><li>b</li></ul>');
  });
});
