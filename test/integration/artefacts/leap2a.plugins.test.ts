import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLeapFeed } from '../../../src/artefacts/leap2a/index.js';
import type { LeapImportOptions } from '../../../src/artefacts/leap2a/index.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { createImportFixture, type ImportFixture } from '../../helpers/import-context.js';
import { artefactsOf, feed, OPTIONS, PNG, writePackage } from './leap2a-support.js';

/** Comments, plans, folders, pages and collections, profile and résumé entries (portfolio-import.md §6.6, §6.7). */
const MAHARA_NS = 'xmlns:mahara="http://wiki.mahara.org/Developer_Area/Import%2F%2FExport/LEAP_Extensions#"';
const mfeed = (entries: string) => feed(entries).replace('<feed ', `<feed ${MAHARA_NS} `);
const entry = (id: string, type: string, body: string) => `<entry><id>${id}</id><rdf:type rdf:resource="leap2:${type}"/>${body}</entry>`;

describe.each(engines)('LEAP2A plugins ($name)', (engine) => {
  let testDb: TestDb;
  let root: string;
  const fixtures: ImportFixture[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'leap2a-plugins-'));
  });

  afterAll(async () => {
    for (const f of fixtures) await f.cleanup();
    await fs.rm(root, { recursive: true, force: true });
    await testDb?.drop();
  });

  const run = async (xml: string, files: Record<string, Buffer | string> = {}, options: LeapImportOptions = OPTIONS) => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    const xmlPath = await writePackage(root, xml, files);
    const { warnings } = await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, options));
    return { warnings, rows: await artefactsOf(testDb.db, fixture.user.id), user: fixture.user.id };
  };

  it('imports comments on an artefact and on a page, private with audience# Private; drops a comment on nothing', async () => {
    const comment = (id: string, target: string, extra = '') =>
      entry(id, 'entry', `<title>C ${id}</title><content>Nice</content><mahara:artefactplugin mahara:plugin="comment" mahara:type="comment"/><link rel="leap2:reflects_on" href="${target}"/>${extra}`);
    const xml = mfeed(
      entry('p', 'entry', '<title>Post</title><content>x</content>') +
        entry('v', 'selection', '<title>Page</title><content>hello</content><category term="Webpage" scheme="categories:selection_type#"/>') +
        comment('c1', 'p') +
        comment('c2', 'v', '<category term="Private" scheme="categories:audience#"/>') +
        comment('c3', 'nowhere'),
    );
    const { rows, warnings, user } = await run(xml);
    const post = rows.find((r) => r.title === 'Post')!;
    const view = (await testDb.db('views').where({ owner: user }).first('id')) as { id: number };
    const comments = rows.filter((r) => r.artefacttype === 'comment');
    expect(comments.map((c) => [c.title, c.on_artefact, c.on_view, c.author_name, c.private])).toEqual([
      ['C c1', post.id, null, 'Imported feedback', false],
      ['C c2', null, view.id, 'Imported feedback', true],
    ]);
    expect(warnings).toEqual(['comment c3 reflects on nowhere, which was not imported; comment skipped']);
  });

  it('imports plans and their tasks with completion date and status', async () => {
    const xml = feed(
      entry('t', 'plan', '<title>Task 1</title><content>do it</content><link rel="leap2:is_part_of" href="pl"/>' +
        '<leap2:date leap2:point="target">2024-06-30T00:00:00+12:00</leap2:date><leap2:status leap2:stage="completed"/>') +
        entry('pl', 'plan', '<title>Plan</title><content>goals</content><link rel="leap2:has_part" href="t"/>') +
        entry('h', 'plan', '<title>Html plan</title><content type="html">&lt;b&gt;x&lt;/b&gt;</content>'),
    );
    const { rows } = await run(xml);
    const plan = rows.find((r) => r.artefacttype === 'plan')!;
    expect([plan.title, plan.description]).toEqual(['Plan', 'goals']);
    const task = rows.find((r) => r.artefacttype === 'task')!;
    expect([task.title, task.parent, task.extra]).toEqual(['Task 1', plan.id, { completiondate: '2024-06-30', completed: true }]);
    // A plan with html content is not the plans plugin's: it becomes a post.
    expect(rows.find((r) => r.title === 'Html plan')!.artefacttype).toBe('blogpost');
  });

  it('makes a basic page from a Webpage without Mahara view data, and a collection of pages in link order', async () => {
    const xml = feed(
      entry('v1', 'selection', '<title>One</title><content type="html">&lt;p&gt;first&lt;/p&gt;</content><category term="Webpage" scheme="categories:selection_type#"/>') +
        entry('v2', 'selection', '<title>Two</title><content>second</content><category term="Webpage" scheme="categories:selection_type#"/>') +
        entry('c', 'selection', '<title>Site</title><link rel="leap2:has_part" href="v2"/><link rel="leap2:has_part" href="v1"/><category term="Website" scheme="categories:selection_type#"/>') +
        entry('c2', 'selection', '<title>Site 2</title><link rel="leap2:has_part" href="v1"/><category term="Website" scheme="categories:selection_type#"/>'),
    );
    const { user, warnings } = await run(xml);
    const views = (await testDb.db('views').where({ owner: user }).orderBy('id').select('id', 'type', 'title')) as Array<{ id: number; type: string; title: string }>;
    expect(views.map((v) => [v.type, v.title])).toEqual([
      ['portfolio', 'One'],
      ['portfolio', 'Two'],
    ]);
    const blocks = await testDb.db('view_blocks').where({ view: views[0]!.id }).select('blocktype', 'content');
    expect(blocks).toEqual([{ blocktype: 'text', content: '<p>first</p>' }]);
    const collections = (await testDb.db('collections').where({ owner: user }).orderBy('id').select('id', 'title')) as Array<{ id: number; title: string }>;
    expect(collections.map((c) => c.title)).toEqual(['Site', 'Site 2']);
    const members = await testDb.db('collection_views').whereIn('collection', collections.map((c) => c.id)).orderBy('displayorder').select('view', 'collection');
    expect(members).toEqual([
      { view: views[1]!.id, collection: collections[0]!.id },
      { view: views[0]!.id, collection: collections[0]!.id },
    ]);
    expect(warnings).toEqual(['page v1 is already in a collection; not added to c2']);
  });

  it('breaks a circular folder reference with a warning (§8 row 39)', async () => {
    const folder = (id: string, child: string) =>
      entry(id, 'selection', `<title>Folder ${id}</title><link rel="leap2:has_part" href="${child}"/><category term="Folder" scheme="categories:selection_type#"/>`);
    const { rows, warnings } = await run(feed(folder('a', 'b') + folder('b', 'a')));
    const folders = rows.filter((r) => r.artefacttype === 'folder');
    expect(folders.map((f) => [f.title, f.parent === null ? null : rows.find((r) => r.id === f.parent)!.title])).toEqual([
      ['Folder a', null],
      ['Folder b', 'Folder a'],
    ]);
    expect(warnings).toEqual(['circular folder reference at a']);
  });

  it('puts nested folders and files together and warns about a missing part (§8 row 36)', async () => {
    const xml = feed(
      entry('top', 'selection', '<title>Top</title><link rel="leap2:has_part" href="sub"/><link rel="leap2:has_part" href="ghost"/><category term="Folder" scheme="categories:selection_type#"/>') +
        entry('sub', 'selection', '<title>Sub</title><link rel="leap2:has_part" href="f"/><category term="Folder" scheme="categories:selection_type#"/>') +
        entry('f', 'resource', '<title>dot.png</title><link rel="enclosure" href="files/dot.png"/>'),
    );
    const { rows, warnings } = await run(xml, { 'files/dot.png': PNG });
    const byTitle = (t: string) => rows.find((r) => r.title === t)!;
    expect([byTitle('Top').parent, byTitle('Sub').parent, byTitle('dot.png').parent]).toEqual([null, byTitle('Top').id, byTitle('Sub').id]);
    expect(warnings).toEqual(['top has a part ghost that is not in the import']);
  });

  it('imports a personal statement as the introduction; person-data profile fields only without skipPersonData (§6.5)', async () => {
    const xml = mfeed(
      entry('ps', 'entry', '<title>About me</title><content>I like maps</content><category term="Personalstatement" scheme="categories:common_item#"/>') +
        entry('fn', 'entry', '<title>First name</title><content>Zed</content><mahara:artefactplugin mahara:plugin="internal" mahara:type="firstname"/>') +
        entry('oc', 'entry', '<title>Occupation</title><content>Surveyor</content><mahara:artefactplugin mahara:plugin="internal" mahara:type="occupation"/>'),
    );
    const mnet = await run(xml);
    expect(mnet.rows.filter((r) => r.artefacttype !== 'contactinformation').map((r) => [r.artefacttype, r.title])).toEqual([
      ['introduction', 'I like maps'],
      ['occupation', 'Surveyor'],
    ]);
    const local = await run(xml, {}, { ...OPTIONS, skipPersonData: false });
    expect(local.rows.filter((r) => r.artefacttype === 'firstname').map((r) => r.title)).toEqual(['Zed']);
  });

  it('imports résumé entries as Mahara composite and field artefacts', async () => {
    const xml = mfeed(
      entry('g', 'entry', '<title>Career goal</title><content type="html">&lt;p&gt;Lead a survey team&lt;/p&gt;</content><mahara:artefactplugin mahara:plugin="resume" mahara:type="careergoal"/>') +
        entry('w1', 'activity', '<title>Field assistant</title><content>Surveys</content><category term="Work" scheme="categories:life_area#"/>' +
          '<leap2:date leap2:point="start">2019</leap2:date><leap2:date leap2:point="end">2021</leap2:date>') +
        entry('w2', 'activity', '<title>Surveyor</title><category term="Placement" scheme="categories:life_area#"/>') +
        entry('c', 'achievement', '<title>First aid</title>'),
    );
    const { rows } = await run(xml);
    const byType = (t: string) => rows.filter((r) => r.artefacttype === t);
    expect(byType('careergoal').map((r) => r.description)).toEqual(['<p>Lead a survey team</p>']);
    expect(byType('employmenthistory').map((r) => r.extra)).toEqual([
      {
        items: [
          { entry: 'w1', title: 'Field assistant', description: 'Surveys', startdate: '2019', enddate: '2021' },
          { entry: 'w2', title: 'Surveyor', description: '', startdate: null, enddate: null },
        ],
      },
    ]);
    expect(byType('certification')).toHaveLength(1);
  });

  it('has no annotation plugin: an annotation entry falls to the catch-all journal like any entry', async () => {
    const xml = mfeed(entry('a', 'entry', '<title>Annotated</title><content>note</content><mahara:artefactplugin mahara:plugin="annotation" mahara:type="annotation"/>'));
    const { rows } = await run(xml);
    expect(rows.filter((r) => r.artefacttype === 'blogpost').map((r) => r.title)).toEqual(['Annotated']);
  });
});
