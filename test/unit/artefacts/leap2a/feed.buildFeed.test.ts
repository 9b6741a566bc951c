import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MnetFault } from '../../../../src/errors.js';
import { buildFeed, hasCategory, leapLinks, orderedParts, type LeapFeed } from '../../../../src/artefacts/leap2a/feed.js';
import { parseLeapXml } from '../../../../src/artefacts/leap2a/parse.js';

/** §6.3–§6.5: version detection and the entry anatomy, on Mahara's and Moodle's feeds. */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/leap2a');
const read = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const build = (xml: string, warnings: string[] = []): LeapFeed => buildFeed(parseLeapXml(Buffer.from(xml)), (w) => warnings.push(w));
const wrap = (head: string, body = '') =>
  `<feed xmlns="http://www.w3.org/2005/Atom" ${head}><id>f</id><title>T</title>${body}</feed>`;

describe('buildFeed: version (§6.3)', () => {
  it('is 2010-07 with the version element, found by URI whatever the prefix', () => {
    expect(build(wrap('xmlns:q="http://terms.leapspecs.org/"', '<q:version>http://www.leapspecs.org/2010-07/2A/</q:version>')).version).toBe('2010-07');
  });

  it('refuses another version', () => {
    expect(() => build(wrap('xmlns:leap2="http://terms.leapspecs.org/"', '<leap2:version>http://www.leapspecs.org/2009-03/2A/</leap2:version>'))).toThrow(
      new MnetFault(0, 'FATAL: The version of the uploaded LEAP2A file is not supported by this Mahara version'),
    );
  });

  it('is 2010-07 without the element when the 2010-07 predicates URI is bound, else 2009-03', () => {
    expect(build(wrap('xmlns:leap2="http://terms.leapspecs.org/"')).version).toBe('2010-07');
    expect(build(wrap('xmlns:leap="http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#"')).version).toBe('2009-03');
  });

  it('only warns when the LEAP namespaces are not declared (§8 row 33)', () => {
    const warnings: string[] = [];
    build(wrap(''), warnings);
    expect(warnings).toEqual([
      'LEAP2A: the rdf namespace is not declared',
      'LEAP2A: the leap namespace is not declared',
      'LEAP2A: the categories namespace is not declared',
    ]);
  });

  it('refuses a document that is not an Atom feed', () => {
    expect(() => build('<feed/>')).toThrow('FATAL: XML not accepted: the document is not an Atom feed');
  });
});

describe('buildFeed: entries (§6.4)', () => {
  it('reads the Moodle forum discussion', () => {
    const feed = build(read('moodle/forum-discussion.leap2a.xml'));
    expect(feed.title).toBe('Leap2A export from Moodle for Amelia Hart');
    expect(feed.personEntryId).toBeUndefined();
    expect(feed.entries.map((e) => [e.id, e.types])).toEqual([
      ['portfolio:forumpost1201', ['resource']],
      ['portfolio:storedfile8801', ['resource']],
      ['portfolio:storedfile8802', ['resource']],
      ['portfolio:forumpost1202', ['resource']],
      ['portfolio:forumpost1203', ['resource']],
      ['portfolio:forumdiscussion44', ['selection']],
    ]);
    const discussion = feed.byId.get('portfolio:forumdiscussion44')!;
    expect(hasCategory(discussion, 'selection_type', 'Grouping')).toBe(true);
    expect(orderedParts(discussion)).toEqual(['portfolio:forumpost1201', 'portfolio:forumpost1202', 'portfolio:forumpost1203']);
    const file = feed.byId.get('portfolio:storedfile8801')!;
    expect(file.links.map((l) => [l.rel, l.leapRel, l.href, l.type, l.length])).toEqual([
      ['related', undefined, 'portfolio:forumpost1202', undefined, undefined],
      ['enclosure', undefined, 'files/site-map.png', 'image/png', '6688'],
    ]);
    expect(feed.byId.get('portfolio:forumpost1201')!.author?.name).toBe('Ravi Patel');
    expect(feed.byId.get('portfolio:forumpost1201')!.published).toBe('2025-03-03T09:15:00+08:00');
  });

  it('finds the person entry, tags, Mahara hints and the same model in both behat spellings', () => {
    const a = build(read('mahara-behat-leap2a-canonical-ns.xml'));
    const b = build(read('mahara-behat-leap2a-archiveorg-ns.xml'));
    expect(a.personEntryId).toBe('portfolio:artefactinternal');
    const post = a.byId.get('portfolio:artefact183')!;
    expect([post.types, post.tags, post.maharaPlugin, post.maharaType]).toEqual([['entry'], ['Alice'], 'blog', 'blogpost']);
    expect(leapLinks(post, 'is_part_of')).toEqual(['portfolio:artefact40']);
    const strip = (f: LeapFeed) => f.entries.map(({ node: _n, summaryNode: _s, contentNode: _c, ...rest }) => rest);
    expect(strip(b)).toEqual(strip(a));
    expect(b.personEntryId).toBe(a.personEntryId);
  });

  it('uses label before term for tags, de-duplicated; scheme\'d categories are not tags', () => {
    const feed = build(
      wrap(
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:c="http://wiki.leapspecs.org/2A/categories/"',
        '<entry><id>e</id><title>x</title><category term="a" label="Alpha"/><category term="Alpha"/><category term="b"/><category term="Web" scheme="c:resource_type#"/>' +
          '<category term="Self" scheme="http://wiki.leapspecs.org/2A/categories/person_type#"/></entry>',
      ),
    );
    const entry = feed.entries[0]!;
    expect(entry.tags).toEqual(['Alpha', 'b']);
    expect(hasCategory(entry, 'resource_type', 'Web')).toBe(true);
    expect(feed.personEntryId).toBe('e');
  });

  it('keeps the first of two entries with the same id', () => {
    const warnings: string[] = [];
    const feed = build(wrap('', '<entry><id>e</id><title>1</title></entry><entry><id>e</id><title>2</title></entry>'), warnings);
    expect(feed.entries.map((e) => e.title)).toEqual(['1']);
    expect(warnings).toContain('LEAP2A: duplicate entry id e; only the first is imported');
  });
});
