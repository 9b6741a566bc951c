import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLeapFeed } from '../../../src/artefacts/leap2a/index.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { createImportFixture, type ImportFixture } from '../../helpers/import-context.js';
import { artefactsOf, attachmentsOf, extractMoodlePackage, OPTIONS } from './leap2a-support.js';

/**
 * The packages Moodle's own code wrote (testdata/leap2a/moodle), extracted as the queue would
 * (portfolio-import.md §4.2, §6.9, §6.11; checklist items 51–54).
 */
describe.each(engines)('LEAP2A import of Moodle packages ($name)', (engine) => {
  let testDb: TestDb;
  let root: string;
  const fixtures: ImportFixture[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'leap2a-moodle-'));
  });

  afterAll(async () => {
    for (const f of fixtures) await f.cleanup();
    await fs.rm(root, { recursive: true, force: true });
    await testDb?.drop();
  });

  const importPackage = async (name: string) => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    const xml = await extractMoodlePackage(root, name);
    const { result, warnings } = await fixture.run((ctx) => importLeapFeed(xml, ctx, OPTIONS));
    return { fixture, result, warnings, rows: await artefactsOf(testDb.db, fixture.user.id) };
  };

  it('forum discussion: one journal "Discussion: …" with 3 published posts, attachments as top-level files (51)', async () => {
    const { rows, result, warnings } = await importPackage('forum-discussion');
    expect(warnings).toEqual([]);
    expect(result.returnData).toEqual([]);
    const journals = rows.filter((r) => r.artefacttype === 'blog');
    expect(journals.map((j) => j.title)).toEqual(['Discussion: Fieldwork safety plan']);
    const posts = rows.filter((r) => r.artefacttype === 'blogpost');
    expect(posts.map((p) => [p.title, p.parent, p.published])).toEqual([
      ['Fieldwork safety plan', journals[0]!.id, true],
      ['Re: Fieldwork safety plan', journals[0]!.id, true],
      ['Re: Fieldwork safety plan', journals[0]!.id, true],
    ]);
    const image = rows.find((r) => r.title === 'site-map.png')!;
    const pdf = rows.find((r) => r.title === 'Safety notes.pdf')!;
    expect([image.artefacttype, image.parent, pdf.artefacttype, pdf.parent]).toEqual(['image', null, 'file', null]);
    expect(await attachmentsOf(testDb.db, posts[1]!.id)).toEqual([image.id, pdf.id].sort((a, b) => a - b));
    expect(await attachmentsOf(testDb.db, posts[0]!.id)).toEqual([]);
    expect(rows.filter((r) => r.artefacttype === 'contactinformation').map((r) => [r.title, r.parent])).toEqual([['Contact information', null]]);
    expect(new Set(result.artefactIds)).toEqual(new Set(rows.map((r) => r.id)));
  });

  it('forum discussion: the reply linking its attachments is re-serialised with download URLs and no rel (52)', async () => {
    const { rows } = await importPackage('forum-discussion');
    const image = rows.find((r) => r.title === 'site-map.png')!;
    const pdf = rows.find((r) => r.title === 'Safety notes.pdf')!;
    const reply = rows.filter((r) => r.artefacttype === 'blogpost')[1]!;
    expect(reply.description).toBe(
      '<table border="0" cellpadding="3" cellspacing="0" class="forumpost"><tr class="header"><td/><td class="topic">' +
        '<div class="subject">Re: Fieldwork safety plan</div><div class="author">by Amelia Hart - Tuesday, 4 March 2025, 2:10 PM</div></td></tr>' +
        '<tr><td class="left side" valign="top"/><td class="content"><p>I have marked up the site map and attached my notes.</p>' +
        '<ul><li>Gate B is locked after 4pm</li><li>The first-aid kit is in van 2</li></ul><div class="attachments"><br/><b>Attachments</b>:<br/><br/>' +
        `<img src="/artefact/file/download.php?file=${image.id}"/><br/><a href="/artefact/file/download.php?file=${pdf.id}">Safety notes.pdf</a><br/>` +
        '</div></td></tr></table>',
    );
  });

  it('forum discussion: posts without file links keep their body; dates are the wall-clock part (53)', async () => {
    const { rows } = await importPackage('forum-discussion');
    const first = rows.find((r) => r.artefacttype === 'blogpost')!;
    expect(first.description).toContain('<td class="content"><p>Please review the draft safety plan before Friday');
    expect(first.description.endsWith('</table>\n\n')).toBe(true);
    expect(first.ctime.toISOString()).toBe('2025-03-03T09:15:00.000Z');
    const reply = rows.filter((r) => r.artefacttype === 'blogpost')[1]!;
    expect([reply.ctime.toISOString(), reply.mtime.toISOString()]).toEqual(['2025-03-04T14:02:00.000Z', '2025-03-04T14:10:00.000Z']);
  });

  it('forum post: a single post goes to the catch-all journal with its attachment', async () => {
    const { rows } = await importPackage('forum-post');
    const journal = rows.find((r) => r.artefacttype === 'blog')!;
    expect(journal.title).toBe('Data imported from Leap2A export from Moodle for Amelia Hart');
    expect(journal.description).toBe('Entries imported from a Leap2A export that were not able to be imported elsewhere');
    const post = rows.find((r) => r.artefacttype === 'blogpost')!;
    const pdf = rows.find((r) => r.title === 'reading-log-week3.pdf')!;
    expect([post.title, post.parent, pdf.parent]).toEqual(['Reading log: week 3', journal.id, null]);
    expect(await attachmentsOf(testDb.db, post.id)).toEqual([pdf.id]);
    expect(post.description).toContain(`<a href="/artefact/file/download.php?file=${pdf.id}">reading-log-week3.pdf</a><br/></div>`);
  });

  it('assignment online text: the body is stored unchanged, @@PLUGINFILE@@ URLs kept (52)', async () => {
    const { rows, warnings } = await importPackage('assign-onlinetext');
    expect(warnings).toEqual([]);
    const post = rows.find((r) => r.artefacttype === 'blogpost')!;
    expect(post.title).toBe('Assignment: Research proposal');
    expect(post.description).toBe(
      '<p>My proposal asks whether community gardens change how neighbours rate their own wellbeing.</p>' +
        '<p><img src="@@PLUGINFILE@@/survey-chart.png" alt="Bar chart of survey responses" width="200" height="120"></p>' +
        '<p>The full methodology is in <a href="@@PLUGINFILE@@/methodology.pdf">methodology.pdf</a>.</p>',
    );
    // No dates in the entry: the import time (53).
    expect(Math.abs(post.ctime.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('assignment files: a folder "Assignment: …" holding the 2 files', async () => {
    const { rows, warnings } = await importPackage('assign-files');
    expect(warnings).toEqual([]);
    const folder = rows.find((r) => r.artefacttype === 'folder')!;
    expect([folder.title, folder.parent]).toEqual(['Assignment: Research proposal', null]);
    const files = rows.filter((r) => r.parent === folder.id);
    expect(files.map((f) => [f.title, f.artefacttype])).toEqual([
      ['pilot-site.png', 'image'],
      ['Research proposal v2.pdf', 'file'],
    ]);
    expect(rows.filter((r) => r.artefacttype === 'blog')).toEqual([]);
  });

  it('every import leaves exactly one contactinformation artefact (54)', async () => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    for (const name of ['forum-post', 'assign-files']) {
      const xml = await extractMoodlePackage(root, name);
      await fixture.run((ctx) => importLeapFeed(xml, ctx, OPTIONS));
    }
    const rows = await artefactsOf(testDb.db, fixture.user.id);
    expect(rows.filter((r) => r.artefacttype === 'contactinformation')).toHaveLength(1);
  });
});
