import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createImportTrace } from '../../../../src/artefacts/import-trace.js';
import { leapPlugins } from '../../../../src/artefacts/leap2a/index.js';
import { buildFeed, type LeapFeed } from '../../../../src/artefacts/leap2a/feed.js';
import { parseLeapXml } from '../../../../src/artefacts/leap2a/parse.js';
import { collectStrategies, pickStrategies, type ScoreAdjuster } from '../../../../src/artefacts/leap2a/strategies.js';
import type { LeapPlugin } from '../../../../src/artefacts/leap2a/types.js';
import { FaultCode } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/log.js';

/** §6.6 steps 2–4: offers, scores, the stable order and the pick phase. */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/leap2a');
const build = (xml: string): LeapFeed => buildFeed(parseLeapXml(Buffer.from(xml)), () => {});
const fixture = (name: string) => build(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const same: ScoreAdjuster = (_p, _f, s) => s;

function mapping(feed: LeapFeed, plugins: readonly LeapPlugin[] = leapPlugins, adjust: ScoreAdjuster = same) {
  const trace = createImportTrace(silentLogger, 2, {});
  const picked = pickStrategies(feed, collectStrategies(feed, plugins, adjust, trace), trace);
  return { picked: picked.map((s) => [s.entryId, `${s.plugin}/${s.id}`, s.score]), warnings: trace.warnings };
}

const wrap = (entries: string) =>
  `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:leap2="http://terms.leapspecs.org/" xmlns:categories="http://wiki.leapspecs.org/2A/categories"><id>f</id><title>T</title>${entries}</feed>`;

describe('strategies for the behat feed (33)', () => {
  const expected = [
    ['portfolio:artefact181', 'file/file', 110],
    ['portfolio:artefact182', 'file/file', 110],
    ['portfolio:view17', 'core/page', 100],
    ['portfolio:view24', 'core/page', 100],
    ['portfolio:view25', 'core/page', 100],
    ['portfolio:artefact40', 'blog/journal', 100],
    ['portfolio:artefact184', 'plans/plan', 90],
  ];

  it('gives the same load mapping for both namespace spellings, without the person entry', () => {
    const a = mapping(fixture('mahara-behat-leap2a-canonical-ns.xml'));
    const b = mapping(fixture('mahara-behat-leap2a-archiveorg-ns.xml'));
    expect(a.picked).toEqual(expected);
    expect(b).toEqual(a);
    expect(a.warnings).toEqual([]);
  });
});

describe('strategies for Moodle packages', () => {
  it('§6.11 / forum discussion: files first at 110, then the Grouping as a journal at 20 taking its posts', () => {
    expect(mapping(fixture('moodle/forum-discussion.leap2a.xml')).picked).toEqual([
      ['portfolio:storedfile8801', 'file/file', 110],
      ['portfolio:storedfile8802', 'file/file', 110],
      ['portfolio:forumdiscussion44', 'blog/journal', 20],
    ]);
  });

  it('assignment files: the Folder at 100 takes both files', () => {
    expect(mapping(fixture('moodle/assign-files.leap2a.xml')).picked).toEqual([['portfolio:assign61submission_filesgroup', 'file/folder', 100]]);
  });

  it('online text: a post in the catch-all journal', () => {
    expect(mapping(fixture('moodle/assign-onlinetext.leap2a.xml')).picked).toEqual([['portfolio:submissions_onlinetext61', 'blog/post', 10]]);
  });
});

describe('scoring and picking', () => {
  const posts = wrap(['a', 'b', 'c', 'd'].map((id) => `<entry><id>${id}</id><title>${id}</title><rdf:type rdf:resource="leap2:entry"/></entry>`).join(''));

  it('breaks ties by document order, every time (45)', () => {
    const first = mapping(build(posts)).picked;
    expect(first.map(([id]) => id)).toEqual(['a', 'b', 'c', 'd']);
    for (let i = 0; i < 5; i++) expect(mapping(build(posts)).picked).toEqual(first);
  });

  it('falls back to the next strategy when a required entry is taken (§6.6 step 4 [Ours])', () => {
    const feed = build(
      wrap(
        '<entry><id>s</id><title>S</title><rdf:type rdf:resource="leap2:selection"/><link rel="leap2:has_part" href="f"/><category term="Blog" scheme="categories:selection_type#"/></entry>' +
          '<entry><id>f</id><title>F</title><rdf:type rdf:resource="leap2:resource"/><link rel="enclosure" href="files/f.png"/></entry>',
      ),
    );
    expect(mapping(feed).picked).toEqual([
      ['f', 'file/file', 110],
      ['s', 'blog/single-post', 10],
    ]);
  });

  it('applies admins\' priority changes through adjustScore', () => {
    const feed = fixture('moodle/forum-discussion.leap2a.xml');
    // Files pushed below the journal: the journal (20) now comes first; files still get their own strategy.
    const adjust: ScoreAdjuster = (plugin, format, score) => (plugin === 'file' && format === 'LEAP/resource' ? score - 100 : score);
    const picked = mapping(feed, leapPlugins, adjust).picked;
    expect(picked[0]).toEqual(['portfolio:forumdiscussion44', 'blog/journal', 20]);
    expect(picked.slice(1).map(([id, s]) => [id, s])).toEqual([
      ['portfolio:storedfile8801', 'file/file'],
      ['portfolio:storedfile8802', 'file/file'],
    ]);
  });

  it('warns "Could not find any strategies" and skips the entry (§8 row 35)', () => {
    const onlyPlans = leapPlugins.filter((p) => p.name === 'plans');
    expect(mapping(build(posts), onlyPlans)).toEqual({ picked: [], warnings: ['a', 'b', 'c', 'd'].map((id) => `Could not find any strategies for ${id}`) });
  });

  it('treats a malformed strategy as an internal error', () => {
    const bad: LeapPlugin = {
      name: 'bad',
      phase: 'artefacts',
      imports: [{ format: 'LEAP/entry', priority: 1 }],
      strategiesFor: () => [{ id: 'x', format: 'LEAP/plan', score: 1, requires: [] }],
      importEntry: async () => {},
    };
    expect(() => mapping(build(posts), [bad])).toThrow(expect.objectContaining({ code: FaultCode.Internal }));
  });
});

describe('deeply nested folders', () => {
  it('thousands of nested Folder selections: only the outermost is a folder strategy, requiring all the others', () => {
    const n = 5000;
    let entries = '';
    for (let i = 0; i < n; i++) {
      const part = i + 1 < n ? `<link rel="leap2:has_part" href="f${i + 1}"/>` : '';
      entries += `<entry><id>f${i}</id><title>F${i}</title><content/><rdf:type rdf:resource="leap2:selection"/><category term="Folder" scheme="categories:selection_type#"/>${part}</entry>`;
    }
    const feed = build(wrap(entries));
    const trace = createImportTrace(silentLogger, 0, {});
    const offers = collectStrategies(feed, leapPlugins, same, trace);
    const folderOffers = [...offers.values()].flat().filter((s) => s.plugin === 'file' && s.id === 'folder');
    expect(folderOffers.map((s) => s.entryId)).toEqual(['f0']);
    expect(folderOffers[0]!.requires).toHaveLength(n - 1);
    expect(folderOffers[0]!.requires[0]).toBe('f1');
  });

  it('a cycle of folders with no outside parent leaves each of them at the top level (§8 row 39)', () => {
    const folder = (id: string, part: string) =>
      `<entry><id>${id}</id><title>${id}</title><content/><rdf:type rdf:resource="leap2:selection"/><category term="Folder" scheme="categories:selection_type#"/><link rel="leap2:has_part" href="${part}"/></entry>`;
    const feed = build(wrap(folder('a', 'b') + folder('b', 'c') + folder('c', 'a')));
    const offers = collectStrategies(feed, leapPlugins, same, createImportTrace(silentLogger, 0, {}));
    const folders = [...offers.values()].flat().filter((s) => s.plugin === 'file' && s.id === 'folder');
    expect(folders.map((s) => s.entryId).sort()).toEqual(['a', 'b', 'c']);
  });
});
