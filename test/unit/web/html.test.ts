import { describe, expect, it } from 'vitest';
import { escapeHtml, html, trustedHtml } from '../../../src/web/html.js';

describe('html templates', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const name = `<script>alert("x")</script>' onmouseover='y`;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#39; onmouseover=&#39;y">&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#39; onmouseover=&#39;y</p>',
    );
  });

  it('keeps nested templates and trusted markup as they are, and escapes strings inside arrays', () => {
    const items = ['a&b', html`<b>${'<i>'}</b>`];
    expect(html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${trustedHtml('<hr>')}`.value).toBe(
      '<ul><li>a&#38;b</li><li><b>&#60;i&#62;</b></li></ul><hr>',
    );
  });

  it('renders null, undefined and false as nothing, numbers and true as text', () => {
    expect(html`${null}${undefined}${false}|${0}|${true}`.value).toBe('|0|true');
  });

  it('escapeHtml covers the five characters that matter', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&#38;&#60;&#62;&#34;&#39;');
  });
});
