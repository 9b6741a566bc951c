import { describe, expect, it } from 'vitest';
import { formatPlainText, sanitiseHtml } from '../../../../src/artefacts/html/sanitise.js';

/** The journal-post HTML policy (portfolio-import.md §6.7 [Ours]). */
describe('sanitiseHtml', () => {
  it('leaves clean editor output byte for byte (the Moodle bodies of checklist 52)', () => {
    const bodies = [
      '<p>My proposal.</p><p><img src="@@PLUGINFILE@@/survey-chart.png" alt="Bar chart" width="200" height="120"></p><p>See <a href="@@PLUGINFILE@@/m.pdf">m.pdf</a>.</p>',
      '<table border="0" cellpadding="3" cellspacing="0" class="forumpost"><tr class="header"><td></td><td class="topic starter"><div class="subject">S</div></td></tr></table>\n\n',
      '<div class="attachments"><br /><b>Attachments</b>:<br /><br /><img rel="enclosure" src="http://x/a.png"/><br/ ><a rel="enclosure" href="https://x/b.pdf">b</a><br/ ></div>',
      "<p style=\"text-align: center; color: #333\">x &amp; y &lt; z</p><ul><li>a</li></ul><a href='mailto:a@b.c'>m</a>",
    ];
    for (const body of bodies) expect(sanitiseHtml(body)).toBe(body);
  });

  it('removes scripts, styles, frames and forms, with their code', () => {
    expect(sanitiseHtml('a<script>alert(1)</script>b<style>p{}</style>c<iframe src="x">i</iframe>d<svg><script>x</script></svg>e')).toBe('abcde');
    expect(sanitiseHtml('<form action="x"><input name="q"><button>go</button></form>')).toBe('go');
    expect(sanitiseHtml('<textarea><script>x</script></textarea>ok')).toBe('ok');
  });

  it('removes event handlers, unsafe URLs and unsafe styles', () => {
    expect(sanitiseHtml('<p onclick="x()" class="c">t</p>')).toBe('<p class="c">t</p>');
    expect(sanitiseHtml('<a href="javascript:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitiseHtml('<a href="java&#x09;script:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitiseHtml('<a href="java&Tab;script:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitiseHtml('<a href="jav&NewLinex;ascript:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitiseHtml('<a href=" JAVASCRIPT:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitiseHtml('<img src="data:text/html;base64,PHNjcmlwdD4=">')).toBe('<img>');
    expect(sanitiseHtml('<img src="data:image/png;base64,iVBORw0KGgo=">')).toBe('<img src="data:image/png;base64,iVBORw0KGgo=">');
    expect(sanitiseHtml('<p style="background:url(javascript:x)">t</p>')).toBe('<p>t</p>');
    expect(sanitiseHtml('<p style="width: expression(alert(1))">t</p>')).toBe('<p>t</p>');
  });

  it('keeps extra URLs the caller vouches for', () => {
    expect(sanitiseHtml('<a href="portfolio:f1" rel="enclosure">f</a>', { keepUrl: (u) => u === 'portfolio:f1' })).toBe('<a href="portfolio:f1" rel="enclosure">f</a>');
    expect(sanitiseHtml('<a href="portfolio:f2">f</a>', { keepUrl: (u) => u === 'portfolio:f1' })).toBe('<a>f</a>');
  });

  it('never keeps a URL a browser would run, even one the caller vouches for (a feed can name an entry so)', () => {
    const keepAll = { keepUrl: () => true };
    for (const href of ['java&#9;script:alert(1)', 'java\nscript:alert(1)', ' JavaScript:alert(1)', 'vbscript:x', 'data:text/html,<script>x</script>', 'file:///etc/passwd']) {
      expect(sanitiseHtml(`<a href="${href}">x</a>`, keepAll)).toBe('<a>x</a>');
    }
  });

  it('decodes only real entity names (not Object.prototype members)', () => {
    expect(sanitiseHtml('<p>&constructor; &amp; &toString;</p>')).not.toContain('native code');
  });

  it('balances tags: stray end tags go, open ones are closed', () => {
    expect(sanitiseHtml('</div></td>x<b>y')).toBe('x<b>y</b>');
    expect(sanitiseHtml('<div><p><b>x</div>y')).toBe('<div><p><b>x</b></p></div>y');
  });

  it('writes XHTML-style empty elements as HTML', () => {
    expect(sanitiseHtml('<td/><br/>')).toBe('<td></td><br/>');
  });

  it('does not let a tag hide in odd syntax', () => {
    expect(sanitiseHtml('<a href="x"onclick="y">t</a>')).toBe('<a href="x">t</a>');
    expect(sanitiseHtml('<img/src="x"/onerror="alert(1)">')).toBe('<img src="x">');
    expect(sanitiseHtml('a < b <!-- <script>x</script> --> c')).toBe('a &lt; b  c');
    expect(sanitiseHtml('x<a href="y')).toBe('x');
  });
});

describe('formatPlainText', () => {
  it('escapes, turns newlines into <br> and double spaces into &nbsp;', () => {
    expect(formatPlainText('<x> & "y"\r\nz  w')).toBe('&lt;x&gt; &amp; "y"<br>z&nbsp;w');
  });
});
