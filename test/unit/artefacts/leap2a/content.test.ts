import { describe, expect, it } from 'vitest';
import { entryContent, toHtmlField, wallClockDate } from '../../../../src/artefacts/leap2a/content.js';
import { buildFeed } from '../../../../src/artefacts/leap2a/feed.js';
import { parseLeapXml } from '../../../../src/artefacts/leap2a/parse.js';

/** §6.4 content types and dates, §6.7 body rules. */
const feedOf = (content: string) =>
  buildFeed(
    parseLeapXml(Buffer.from(`<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>T</title><entry><id>e</id><title>x</title>${content}</entry><entry><id>portfolio:file1</id><title>f</title></entry></feed>`)),
    () => {},
  );
const contentOf = (content: string) => entryContent(feedOf(content).entries[0]!);

describe('entryContent', () => {
  it('reads text (also empty or without type), html and xhtml', () => {
    expect(contentOf('<content>a &amp; b</content>')).toEqual({ kind: 'text', value: 'a & b' });
    expect(contentOf('<content type="">x</content>')).toEqual({ kind: 'text', value: 'x' });
    expect(contentOf('')).toEqual({ kind: 'text', value: '' });
    expect(contentOf('<content type="html">&lt;p&gt;x&lt;/p&gt;</content>')).toEqual({ kind: 'html', value: '<p>x</p>' });
    expect(contentOf('<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>a<br/>&lt;b</p><td/>\n</div></content>')).toEqual({
      kind: 'html',
      value: '<p>a<br/>&lt;b</p><td></td>\n',
    });
  });

  it('fails on any other type with Mahara\'s message (§8 row 34)', () => {
    expect(() => contentOf('<content type="text/markdown">x</content>')).toThrow("Unrecognised content type for entry 'e' (text/markdown)");
  });

  it('treats @src as out-of-line content, not text', () => {
    expect(contentOf('<content type="image/png" src="files/a.png"/>')).toEqual({ kind: 'text', value: '' });
  });
});

describe('toHtmlField', () => {
  it('escapes plain text, newlines as <br>, double spaces as &nbsp;', () => {
    const feed = feedOf('');
    expect(toHtmlField({ kind: 'text', value: '<b> & c\nd  e' }, feed)).toBe('&lt;b&gt; &amp; c<br>d&nbsp;e');
  });

  it('sanitises html but keeps links to the feed\'s entries', () => {
    const feed = feedOf('');
    expect(toHtmlField({ kind: 'html', value: '<a href="portfolio:file1" rel="enclosure">f</a><a href="portfolio:other">o</a>' }, feed)).toBe(
      '<a href="portfolio:file1" rel="enclosure">f</a><a>o</a>',
    );
  });
});

describe('wallClockDate', () => {
  it('keeps the wall-clock part and drops the offset (measured)', () => {
    expect(wallClockDate('2025-03-03T09:15:00+08:00')?.toISOString()).toBe('2025-03-03T09:15:00.000Z');
    expect(wallClockDate('2018-07-25T13:38:58-1200')?.toISOString()).toBe('2018-07-25T13:38:58.000Z');
    expect(wallClockDate('2024-01-02T03:04:05.678Z')?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(wallClockDate('2024-01-02')?.toISOString()).toBe('2024-01-02T00:00:00.000Z');
  });

  it('is undefined when missing and null when not a date', () => {
    expect(wallClockDate(undefined)).toBeUndefined();
    expect(wallClockDate(' ')).toBeUndefined();
    expect(wallClockDate('yesterday')).toBeNull();
    expect(wallClockDate('2024-02-30T00:00:00Z')).toBeNull();
  });
});
