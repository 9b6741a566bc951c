import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/db.js';
import { fixtureZip, readZipEntries } from '../helpers/moodle-exports.js';
import { visibleText, WebClient } from '../helpers/web-client.js';
import { buildZip } from '../helpers/zip-writer.js';
import { download, sha1, startStudentSite, type StudentSite } from '../helpers/student-site.js';

/**
 * The student's journals over HTTP: a real Moodle forum discussion export (posts, attachments, in-body
 * download links) and a hand-written LEAP2A feed with what Moodle never sends (drafts, tags, comments on a
 * post, a file and a page, markup in titles and bodies), both through the real export path.
 */
const MAHARA_NS = 'http://wiki.mahara.org/Developer_Area/Import%2F%2FExport/LEAP_Extensions#';
const comment = (id: string, target: string, body: string, extra = '') =>
  `<entry><id>${id}</id><title>Comment ${id}</title>${body}<rdf:type rdf:resource="leap2:entry"/><mahara:artefactplugin mahara:plugin="comment" mahara:type="comment"/><link rel="leap2:reflects_on" href="${target}"/>${extra}</entry>`;
const DIARY = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:leap2="http://terms.leapspecs.org/" xmlns:categories="http://wiki.leapspecs.org/2A/categories" xmlns:mahara="${MAHARA_NS}">
<id>urn:test:diary</id><title>Diary export</title><leap2:version>http://www.leapspecs.org/2010-07/2A/</leap2:version>
<author><name>Amelia Hart</name></author>
<entry><id>urn:j</id><title>Field diary</title><content>My diary</content><rdf:type rdf:resource="leap2:selection"/><category term="Blog" scheme="categories:selection_type#"/><link rel="leap2:has_part" href="urn:p1"/><link rel="leap2:has_part" href="urn:p2"/></entry>
<entry><id>urn:p1</id><title>&lt;script&gt;alert("title")&lt;/script&gt; Day one</title><published>2025-03-01T10:00:00Z</published><content type="html">&lt;p&gt;Sunny &lt;b&gt;day&lt;/b&gt;&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src="x.png" onerror="alert(2)"&gt;</content><rdf:type rdf:resource="leap2:entry"/><category term="fieldwork"/><category term="weather"/></entry>
<entry><id>urn:p2</id><title>Day two</title><published>2025-03-02T10:00:00Z</published><content>Not finished</content><rdf:type rdf:resource="leap2:entry"/><category term="Unready" scheme="categories:readiness#"/></entry>
<entry><id>urn:f1</id><title>notes.txt</title><content/><rdf:type rdf:resource="leap2:resource"/><link rel="enclosure" href="files/notes.txt" type="text/plain"/><category term="offline" scheme="categories:resource_type#"/></entry>
<entry><id>urn:v</id><title>My page</title><content>hello</content><rdf:type rdf:resource="leap2:selection"/><category term="Webpage" scheme="categories:selection_type#"/></entry>
${comment('urn:c1', 'urn:p1', '<content type="html">&lt;p&gt;Good &lt;em&gt;work&lt;/em&gt;&lt;/p&gt;&lt;script&gt;alert(5)&lt;/script&gt;</content>', '<category term="Private" scheme="categories:audience#"/>')}
${comment('urn:c2', 'urn:f1', '<content>Tidy notes</content>')}
${comment('urn:c3', 'urn:v', '<content>Nice page</content>')}
</feed>
`;

describe.each(engines)('student pages: journals ($name)', (engine) => {
  let site: StudentSite;
  let discussion: number;
  let diary: number;
  let dayOne: number;
  const attachments = new Map<string, { id: number; bytes: Buffer }>();

  const db = () => site.service.running.services.db;
  const idOf = async (title: string, type: string) =>
    ((await db()('artefacts').where({ owner: site.ameliaId, title, artefacttype: type }).first('id')) as { id: number }).id;

  beforeAll(async () => {
    site = await startStudentSite(engine.name);
    expect((await site.exportPackage(fixtureZip('forum-discussion.zip'), 'leap2a', '1')).ready).toMatchObject({ type: 'complete' });
    const notes = 'Observation notes';
    expect((await site.exportPackage(buildZip([{ name: 'leap2a.xml', data: DIARY }, { name: 'files/notes.txt', data: notes }]), 'leap2a', '1')).ready).toMatchObject({ type: 'complete' });
    discussion = await idOf('Discussion: Fieldwork safety plan', 'blog');
    diary = await idOf('Field diary', 'blog');
    dayOne = await idOf('<script>alert("title")</script> Day one', 'blogpost');
    for (const entry of await readZipEntries(fixtureZip('forum-discussion.zip'))) {
      if (!entry.name.startsWith('files/')) continue;
      const title = entry.name.slice('files/'.length);
      attachments.set(title, { id: await idOf(title, title.endsWith('.png') ? 'image' : 'file'), bytes: entry.data });
    }
  });

  afterAll(async () => {
    await site?.stop();
  });

  it('lists the journals with their post counts, and the comments on files and pages', async () => {
    const page = await site.amelia.get('/journal/');
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    expect(text).toContain('Discussion: Fieldwork safety plan 3 posts');
    expect(text).toContain('Field diary 2 posts (1 draft) My diary');
    expect(page.body).toContain(`<a href="/journal/${discussion}">Discussion: Fieldwork safety plan</a>`);
    expect(text).toContain('Comments on your files and pages');
    expect(text).toMatch(/On the file notes\.txt : Imported feedback , .* : Comment urn:c2 Tidy notes/);
    expect(text).toMatch(/On the page My page ?: Imported feedback , .* : Comment urn:c3 Nice page/);
    const notes = await idOf('notes.txt', 'file');
    expect(page.body).toContain(`href="/artefact/file/?file=${notes}">notes.txt</a>`);
  });

  it('shows a forum discussion newest first, with attachments and in-body links that download the files', async () => {
    const page = await site.amelia.get(`/journal/${discussion}`);
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    expect(text).toContain('3 posts, newest first.');
    const order = ['Thanks Amelia', 'I have marked up the site map', 'Please review the draft safety plan'].map((t) => text.indexOf(t));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const map = attachments.get('site-map.png')!;
    const notes = attachments.get('Safety notes.pdf')!;
    // The body's Moodle references were rewritten at import to our download path (§6.8).
    expect(page.body).toContain(`<img src="/artefact/file/download.php?file=${map.id}"`);
    expect(page.body).toContain(`<a href="/artefact/file/download.php?file=${notes.id}">Safety notes.pdf</a>`);
    expect(text).toMatch(/Attachments Safety notes\.pdf \(application\/pdf, [\d.]+ KB\) site-map\.png \(image\/png, [\d.]+ KB\)/);
    for (const file of [map, notes]) {
      const got = await download(site.amelia, `/artefact/file/download.php?file=${file.id}`);
      expect(got.status).toBe(200);
      expect(sha1(got.bytes)).toBe(sha1(file.bytes));
    }
    expect((await download(site.amelia, `/artefact/file/download.php?file=${map.id}`)).headers.get('content-disposition')).toMatch(/^inline;/);
  });

  it('shows drafts, tags and comments; titles are escaped and bodies keep no script', async () => {
    const page = await site.amelia.get(`/journal/${diary}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toMatch(/<script|onerror|alert\(1\)|alert\(5\)/);
    const text = visibleText(page.body);
    expect(text).toContain('2 posts (1 draft), newest first.');
    expect(text.indexOf('Day two')).toBeLessThan(text.indexOf('Day one'));
    expect(text).toMatch(/Day two Draft \(not published\), written 2 Mar 2025, 10:00 Not finished/);
    expect(text).toContain('<script>alert("title")</script> Day one Posted 1 Mar 2025, 10:00');
    expect(page.body).toContain('&#60;script&#62;alert(&#34;title&#34;)&#60;/script&#62; Day one');
    expect(page.body).toContain('<p>Sunny <b>day</b></p>');
    expect(page.body).toContain('<img src="x.png">');
    expect(text).toContain('Tags: fieldwork, weather');
    expect(text).toMatch(/Comments \(1\) Imported feedback , \d{1,2} \w+ \d{4}, \d\d:\d\d \(private: only you see it\) : Comment urn:c1 Good work/);
  });

  it('sanitises stored bodies again on output, whatever the database holds', async () => {
    await db()('artefacts')
      .where({ id: dayOne })
      .update({ description: '<p>Raw body</p><script>alert(3)</script><img src="y.png" onerror="alert(4)"><a href="javascript:alert(6)">link</a>' });
    const page = await site.amelia.get(`/journal/${diary}`);
    expect(page.body).toContain('<p>Raw body</p>');
    expect(page.body).not.toMatch(/<script|onerror|javascript:|alert\([346]\)/);
  });

  it('bad journal ids are 404: not digits, too large, a post, another student\'s journal', async () => {
    for (const path of ['/journal/abc', '/journal/1x', '/journal/99999999999', `/journal/${dayOne}`]) {
      expect([path, (await site.amelia.get(path)).status]).toEqual([path, 404]);
    }
    expect((await site.bob.get(`/journal/${diary}`)).status).toBe(404);
    expect((await site.bob.get(`/artefact/file/download.php?file=${attachments.get('site-map.png')!.id}`)).status).toBe(404);
    const bobs = await site.bob.get('/journal/');
    expect(bobs.status).toBe(200);
    expect(visibleText(bobs.body)).toContain('You have no journals yet');
    expect(bobs.body).not.toContain('Comments on your files and pages');
  });

  it('anonymous visitors are sent to the login page', async () => {
    const anonymous = new WebClient(site.service.wwwroot);
    for (const path of ['/journal/', `/journal/${diary}`]) {
      const answer = await anonymous.get(path);
      expect(answer.status).toBe(303);
      expect(answer.location).toBe(`/login?wantsurl=${encodeURIComponent(path)}`);
    }
  });

  it('the home page counts the journal posts', async () => {
    expect(visibleText((await site.amelia.get('/')).body)).toContain('Journals : 5 journal posts in 2 journals');
  });
});
