import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArtefact } from '../../../src/artefacts/artefact-store.js';
import { importLeapFeed } from '../../../src/artefacts/leap2a/index.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { createImportFixture, type ImportFixture } from '../../helpers/import-context.js';
import { artefactsOf, attachmentsOf, feed, OPTIONS, PNG, tagsOf, writePackage } from './leap2a-support.js';

/** Journals and posts (portfolio-import.md §6.7, §6.8, §6.11; checklist items 37, 38, 44). */
const WORKED_EXAMPLE = feed(`
  <entry><id>portfolio:forumpost41</id><title>My answer</title>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>See <a href="portfolio:storedfile90" rel="enclosure">plot.png</a></p></div></content>
    <rdf:type rdf:resource="leap2:resource"/>
    <link rel="related" href="portfolio:storedfile90"/>
    <link rel="leap2:is_part_of" href="portfolio:forumdiscussion5"/>
    <category term="web" scheme="categories:resource_type#"/></entry>
  <entry><id>portfolio:storedfile90</id><title>plot.png</title><content/>
    <rdf:type rdf:resource="leap2:resource"/>
    <link rel="related" href="portfolio:forumpost41"/>
    <link rel="enclosure" href="files/plot.png" length="2048" type="image/png"/>
    <category term="offline" scheme="categories:resource_type#"/></entry>
  <entry><id>portfolio:forumdiscussion5</id><title>Discussion: Week 1</title><content/>
    <rdf:type rdf:resource="leap2:selection"/>
    <link rel="leap2:has_part" href="portfolio:forumpost41"/>
    <category term="Grouping" scheme="categories:selection_type#"/></entry>`);

const post = (id: string, title: string, body: string, extra = '') =>
  `<entry><id>${id}</id><title>${title}</title>${body}<rdf:type rdf:resource="leap2:entry"/>${extra}</entry>`;

describe.each(engines)('LEAP2A journals and posts ($name)', (engine) => {
  let testDb: TestDb;
  let root: string;
  const fixtures: ImportFixture[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'leap2a-posts-'));
  });

  afterAll(async () => {
    for (const f of fixtures) await f.cleanup();
    await fs.rm(root, { recursive: true, force: true });
    await testDb?.drop();
  });

  const newFixture = async () => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    return fixture;
  };
  const importInto = async (fixture: ImportFixture, xml: string, files: Record<string, Buffer | string> = {}) => {
    const xmlPath = await writePackage(root, xml, files);
    const { warnings } = await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS));
    return { warnings, rows: await artefactsOf(testDb.db, fixture.user.id) };
  };

  it('imports the §6.11 worked example (37)', async () => {
    const { rows, warnings } = await importInto(await newFixture(), WORKED_EXAMPLE, { 'files/plot.png': PNG });
    expect(warnings).toEqual([]);
    const image = rows.find((r) => r.artefacttype === 'image')!;
    expect([image.title, image.parent]).toEqual(['plot.png', null]);
    const journal = rows.find((r) => r.artefacttype === 'blog')!;
    expect(journal.title).toBe('Discussion: Week 1');
    const posts = rows.filter((r) => r.artefacttype === 'blogpost');
    expect(posts.map((p) => [p.title, p.parent])).toEqual([['My answer', journal.id]]);
    expect(await attachmentsOf(testDb.db, posts[0]!.id)).toEqual([image.id]);
    expect(posts[0]!.description).toBe(`<p>See <a href="/artefact/file/download.php?file=${image.id}">plot.png</a></p>`);
    expect(rows.filter((r) => r.artefacttype === 'contactinformation').map((r) => [r.title, r.parent])).toEqual([['Contact information', null]]);
  });

  it('writes download links under the site path of a sub-directory install', async () => {
    const fixture = await newFixture();
    const xmlPath = await writePackage(root, WORKED_EXAMPLE, { 'files/plot.png': PNG });
    await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS), { sitePath: '/mahara/' });
    const rows = await artefactsOf(testDb.db, fixture.user.id);
    const image = rows.find((r) => r.artefacttype === 'image')!;
    expect(rows.find((r) => r.artefacttype === 'blogpost')!.description).toContain(`href="/mahara/artefact/file/download.php?file=${image.id}"`);
  });

  it('puts entries nobody else claims into one new catch-all journal, also when the user has a journal (38)', async () => {
    const fixture = await newFixture();
    const own = await fixture.run(async (ctx) => {
      const journal = await createArtefact(ctx, { artefacttype: 'blog', title: 'My journal' });
      await createArtefact(ctx, { artefacttype: 'blogpost', title: 'Kept', parent: journal });
      return journal;
    });
    const xml = feed(post('e1', 'One', '<content>first</content>') + post('e2', 'Two', '<content type="html">&lt;p&gt;second&lt;/p&gt;</content>'));
    const { rows } = await importInto(fixture, xml);
    const journals = rows.filter((r) => r.artefacttype === 'blog');
    expect(journals.map((j) => j.title)).toEqual(['My journal', 'Data imported from Leap2A export from Moodle for Ann Lee']);
    expect(rows.filter((r) => r.artefacttype === 'blogpost' && r.parent === journals[1]!.id).map((p) => p.title)).toEqual(['One', 'Two']);
    expect(rows.find((r) => r.id === own.result)?.title).toBe('My journal');
  });

  it('removes the user\'s only journal when it is empty and a journal was imported (§6.6 step 11)', async () => {
    const fixture = await newFixture();
    await fixture.run((ctx) => createArtefact(ctx, { artefacttype: 'blog', title: 'Empty default' }));
    const { rows } = await importInto(fixture, feed(post('e1', 'One', '<content>x</content>')));
    expect(rows.filter((r) => r.artefacttype === 'blog').map((j) => j.title)).toEqual(['Data imported from Leap2A export from Moodle for Ann Lee']);
  });

  it('saves readiness# Unready as a draft (44) and formats plain text, tags and dates (§6.7)', async () => {
    const xml = feed(
      post(
        'e1',
        'Draft',
        '<published>2024-05-01T10:30:00-04:00</published><updated>2024-05-02T11:00:00Z</updated><content>a &lt; b\nnext  line</content>',
        '<category term="readiness" scheme="categories:readiness#"/><category term="Unready" scheme="categories:readiness#"/>' +
          '<category term="x" label="Reading"/><category term="Reading"/><category term="y"/>',
      ),
    );
    const { rows } = await importInto(await newFixture(), xml);
    const p = rows.find((r) => r.artefacttype === 'blogpost')!;
    expect(p.published).toBe(false);
    expect(p.description).toBe('a &lt; b<br>next&nbsp;line');
    expect([p.ctime.toISOString(), p.mtime.toISOString()]).toEqual(['2024-05-01T10:30:00.000Z', '2024-05-02T11:00:00.000Z']);
    expect(await tagsOf(testDb.db, p.id)).toEqual(['Reading', 'y']);
  });

  it('sanitises html bodies (§6.7 [Ours]) but keeps references to this feed\'s entries for the fix-up', async () => {
    const body = '&lt;p onclick="x()"&gt;Hi&lt;script&gt;alert(1)&lt;/script&gt; &lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt; &lt;a href="e9"&gt;y&lt;/a&gt;&lt;/p&gt;';
    const xml = feed(post('e1', 'One', `<content type="html">${body}</content>`) + post('e9', 'Nine', '<content>z</content>'));
    const { rows } = await importInto(await newFixture(), xml);
    const p = rows.find((r) => r.title === 'One')!;
    expect(p.description).toBe('<p>Hi <a>x</a> <a href="e9">y</a></p>');
  });

  it('turns a journal part that is a file into a post showing the file, attached (§6.8 out-of-line content)', async () => {
    const xml = feed(
      '<entry><id>j</id><title>J</title><rdf:type rdf:resource="leap2:selection"/><link rel="leap2:has_part" href="f"/>' +
        '<category term="Blog" scheme="categories:selection_type#"/></entry>' +
        // An entry (not a resource) with out-of-line content: the file plugin does not offer for it.
        '<entry><id>f</id><title>dot.png</title><rdf:type rdf:resource="leap2:entry"/><content src="files/dot.png" type="image/png"/></entry>',
    );
    const { rows, warnings } = await importInto(await newFixture(), xml, { 'files/dot.png': PNG });
    expect(warnings).toEqual([]);
    const image = rows.find((r) => r.artefacttype === 'image')!;
    const p = rows.find((r) => r.artefacttype === 'blogpost')!;
    expect(p.parent).toBe(rows.find((r) => r.artefacttype === 'blog')!.id);
    expect(p.description).toBe(`<img src="/artefact/file/download.php?file=${image.id}" alt="dot.png" width="1" height="1">`);
    expect(await attachmentsOf(testDb.db, p.id)).toEqual([image.id]);
  });

  it('attaches a path that no entry describes as "<title> Attachment" (§6.8)', async () => {
    const xml = feed(post('e1', 'Notes', '<content>x</content>', '<link rel="related" href="files/extra.png"/>'));
    const { rows } = await importInto(await newFixture(), xml, { 'files/extra.png': PNG });
    const file = rows.find((r) => r.title === 'Notes Attachment')!;
    expect(file.parent).toBeNull();
    expect(await attachmentsOf(testDb.db, rows.find((r) => r.artefacttype === 'blogpost')!.id)).toEqual([file.id]);
  });

  it('falls back to a single post when a selection\'s part was already claimed (§6.6 step 4 [Ours])', async () => {
    // The file entry (110) is claimed first, so the Blog (100) cannot take it and becomes a post.
    const xml = feed(
      '<entry><id>j</id><title>Holder</title><content>text</content><rdf:type rdf:resource="leap2:selection"/><link rel="leap2:has_part" href="f"/>' +
        '<category term="Blog" scheme="categories:selection_type#"/></entry>' +
        '<entry><id>f</id><title>dot.png</title><rdf:type rdf:resource="leap2:resource"/><link rel="enclosure" href="files/dot.png"/></entry>',
    );
    const { rows } = await importInto(await newFixture(), xml, { 'files/dot.png': PNG });
    expect(rows.filter((r) => r.artefacttype === 'blogpost').map((p) => p.title)).toEqual(['Holder']);
    expect(rows.find((r) => r.artefacttype === 'blog')!.title).toBe('Data imported from Leap2A export from Moodle for Ann Lee');
    expect(rows.find((r) => r.artefacttype === 'image')!.parent).toBeNull();
  });
});
