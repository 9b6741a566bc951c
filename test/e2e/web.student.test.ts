import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import { engines } from '../helpers/db.js';
import { fixtureZip, readZipEntries } from '../helpers/moodle-exports.js';
import { visibleText, WebClient } from '../helpers/web-client.js';
import { buildZip } from '../helpers/zip-writer.js';
import { download, ids, sha1, startStudentSite, type StudentSite } from '../helpers/student-site.js';

/**
 * The student's home, file browser, downloads and imports pages over HTTP, with content that came through
 * the real export path from a fake Moodle (portfolio-import.md §5.5: the continue URL; §2.3: queue states).
 */
describe.each(engines)('student pages: files and imports ($name)', (engine) => {
  let site: StudentSite;
  const logged: string[] = [];
  let png: Buffer;
  let pdf: Buffer;
  /** The single-PNG export: its continue querystring's folder and file. */
  let single: { folder: number; file: number };
  let twoFilesQuerystring: string;
  let pdfId: number;
  let htmlId: number;
  let hostileId: number;

  const db = () => site.service.running.services.db;
  const fileId = async (title: string) => ((await db()('artefacts').where({ owner: site.ameliaId, title }).orderBy('id').first('id')) as { id: number }).id;

  beforeAll(async () => {
    site = await startStudentSite(engine.name, createLogger('error', (line) => logged.push(line)));
    const entries = await readZipEntries(fixtureZip('file-format-assign-files.zip'));
    png = entries.find((e) => e.name === 'pilot-site.png')!.data;
    pdf = entries.find((e) => e.name === 'Research proposal v2.pdf')!.data;

    // At once, one file: Moodle gets ?folder=<incoming>&file=<the png>&.
    single = ids((await site.exportPackage(buildZip([{ name: 'pilot-site.png', data: png }]), 'file', '1')).ready.querystring);
    // At once, two files: file=0.
    twoFilesQuerystring = String((await site.exportPackage(fixtureZip('file-format-assign-files.zip'), 'file', '1')).ready.querystring);
    pdfId = await fileId('Research proposal v2.pdf');
    // A hostile name and an HTML file that would run script if served inline.
    const hostile = buildZip([
      { name: '<script>alert(1).txt', data: 'hello' },
      { name: 'page.html', data: '<!DOCTYPE html><script>document.title="owned"</script>' },
    ]);
    await site.exportPackage(hostile, 'file', '1');
    hostileId = await fileId('<script>alert(1).txt');
    htmlId = await fileId('page.html');

    // Queued, but Moodle has lost the package: one queue run fails it for good (maxAttempts 1).
    await site.exportPackage(buildZip([{ name: 'lost.txt', data: 'lost' }]), 'file', '', { offer: false });
    await processIncomingContentQueue(site.service.running.services.imports);
    // Still queued (no run since), still only announced, and one being imported (its claim set by hand).
    await site.exportPackage(buildZip([{ name: 'later.txt', data: 'later' }]), 'file', '');
    await site.announce();
    const processingToken = (await site.exportPackage(buildZip([{ name: 'big.txt', data: 'x'.repeat(5000) }]), 'file', '')).token;
    // And one waiting for its retry after a failed try (backoff set by hand, as the queue would).
    const retryToken = (await site.exportPackage(buildZip([{ name: 'retry.txt', data: 'retry' }]), 'file', '')).token;
    await db()('import_queue').where({ token: retryToken }).update({ attempts: 1, lasterror: 'Peer did not answer', run_after: new Date(Date.now() + 3_600_000) });
    await db()('import_queue').where({ token: processingToken }).update({ state: 'processing', progress_bytes: 100, locked_by: 'test', locked_at: new Date() });
  });

  afterAll(async () => {
    await site?.stop();
  });

  it('the continue URL Moodle opens after an export shows the incoming folder with the new file highlighted', async () => {
    const page = await site.amelia.get(`/artefact/file/?folder=${single.folder}&file=${single.file}&`);
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    expect(text).toContain('incoming');
    expect(text).toContain('Just imported: pilot-site.png');
    const highlighted = page.body.match(/<tr class="highlight" aria-current="true">[\s\S]*?<\/tr>/g) ?? [];
    expect(highlighted).toHaveLength(1);
    expect(highlighted[0]).toContain('pilot-site.png');
    expect(highlighted[0]).toContain(`/artefact/file/download.php?file=${single.file}`);
    // Everything else in incoming is listed too, with type and a readable size.
    expect(text).toMatch(/Research proposal v2\.pdf application\/pdf \d+(\.\d)? KB/);
    expect(page.body).toMatch(/<nav aria-label="Breadcrumb">[\s\S]*My files[\s\S]*incoming/);
  });

  it('file=0 highlights nothing; the top level lists the incoming folder with a link into it', async () => {
    const { folder } = ids(twoFilesQuerystring);
    const page = await site.amelia.get(`/artefact/file/${twoFilesQuerystring}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('class="highlight"');
    const top = await site.amelia.get('/artefact/file/');
    expect(top.status).toBe(200);
    expect(top.body).toContain(`href="/artefact/file/?folder=${folder}"`);
    expect(visibleText(top.body)).toMatch(/incoming Folder \d+ items/);
  });

  it('downloads a PNG inline and a PDF as an attachment, byte for byte, with headers that keep scripts out', async () => {
    const image = await download(site.amelia, `/artefact/file/download.php?file=${single.file}`);
    expect(image.status).toBe(200);
    expect(sha1(image.bytes)).toBe(sha1(png));
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(image.headers.get('content-length')).toBe(String(png.length));
    expect(image.headers.get('content-disposition')).toBe("inline; filename*=UTF-8''pilot-site.png");
    expect(image.headers.get('x-content-type-options')).toBe('nosniff');
    expect(image.headers.get('content-security-policy')).toBe("sandbox; default-src 'none'");
    expect(image.headers.get('cache-control')).toBe('private, no-store');

    const doc = await download(site.amelia, `/artefact/file/download.php?file=${pdfId}`);
    expect(doc.status).toBe(200);
    expect(sha1(doc.bytes)).toBe(sha1(pdf));
    expect(doc.headers.get('content-type')).toBe('application/pdf');
    expect(doc.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''Research%20proposal%20v2.pdf");
  });

  it('an uploaded HTML file is an attachment in a sandbox, never a page of ours', async () => {
    const page = await download(site.amelia, `/artefact/file/download.php?file=${htmlId}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-disposition')).toMatch(/^attachment; filename\*=UTF-8''page\.html$/);
    expect(page.headers.get('content-security-policy')).toBe("sandbox; default-src 'none'");
  });

  it('a file name with markup is shown as text', async () => {
    const page = await site.amelia.get(`/artefact/file/?folder=${single.folder}&file=${hostileId}&`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('<script');
    expect(page.body).toContain('&#60;script&#62;alert(1).txt');
    expect(visibleText(page.body)).toContain('Just imported: <script>alert(1).txt');
  });

  it('a file whose stored content has gone is a 404 and an error in the log, and the site carries on', async () => {
    const now = new Date();
    const hash = 'f'.repeat(64);
    await db()('blobs').insert({ hash, size: 4, created_at: now });
    const [row] = await db()('artefacts').insert({ owner: site.ameliaId, artefacttype: 'file', title: 'gone.txt', ctime: now, mtime: now }).returning('id');
    const id = (row as { id: number }).id;
    await db()('artefact_files').insert({ artefact: id, content_hash: hash, size: 4, mime: 'text/plain' });
    const answer = await site.amelia.get(`/artefact/file/download.php?file=${id}`);
    expect(answer.status).toBe(404);
    expect(logged.some((l) => l.includes('file content missing from the blob store') && l.includes(`file=${id}`))).toBe(true);
    expect((await site.amelia.get('/artefact/file/')).status).toBe(200);
  });

  it('bad ids are 404: not digits, too large, a file as a folder, a folder as a download, no id at all', async () => {
    for (const path of [
      '/artefact/file/?folder=abc',
      '/artefact/file/?folder=1x',
      '/artefact/file/?folder=99999999999',
      '/artefact/file/?folder=',
      `/artefact/file/?folder=${single.folder}&folder=${single.folder}`,
      `/artefact/file/?folder=${single.file}`,
      `/artefact/file/?folder=${single.folder}&file=${single.folder}`,
      `/artefact/file/download.php?file=${single.folder}`,
      '/artefact/file/download.php?file=-1',
      '/artefact/file/download.php',
    ]) {
      const answer = await site.amelia.get(path);
      expect([path, answer.status]).toEqual([path, 404]);
      expect(answer.body).toContain('Not found');
    }
  });

  it("another student gets 404 for Amelia's folder, file and download, and sees none of her things", async () => {
    for (const path of [
      `/artefact/file/?folder=${single.folder}`,
      `/artefact/file/?file=${single.file}`,
      `/artefact/file/download.php?file=${single.file}`,
    ]) {
      expect([path, (await site.bob.get(path)).status]).toEqual([path, 404]);
    }
    const files = await site.bob.get('/artefact/file/');
    expect(files.status).toBe(200);
    expect(visibleText(files.body)).toContain('You have no files yet');
    const imports = visibleText((await site.bob.get('/imports/')).body);
    expect(imports).toContain('Nothing is waiting to be imported.');
    expect(imports).toContain('No transfers have finished yet.');
    expect(visibleText((await site.bob.get('/')).body)).toContain('Hello, Bob Stone');
  });

  it('anonymous visitors are sent to the login page, keeping where they wanted to go', async () => {
    const anonymous = new WebClient(site.service.wwwroot);
    for (const path of ['/', `/artefact/file/?folder=${single.folder}&file=${single.file}&`, `/artefact/file/download.php?file=${single.file}`, '/imports/']) {
      const answer = await anonymous.get(path);
      expect(answer.status).toBe(303);
      expect(answer.location).toBe(`/login?wantsurl=${encodeURIComponent(path)}`);
    }
  });

  it('the imports page shows finished transfers with outcomes and the queue with states, attempts and progress', async () => {
    const page = await site.amelia.get('/imports/');
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    // Three immediate imports and one that failed in the queue.
    expect(text.match(/Riverside Moodle Files Imported Everything in this transfer was saved/g)).toHaveLength(3);
    expect(text).toMatch(/Riverside Moodle Files Failed It could not be imported after several tries\. .* 0 0 .*Could not find token/);
    const { folder, file } = single;
    expect(page.body).toContain(`href="/artefact/file/?folder=${folder}&#38;file=${file}">Open folder</a>`);
    // Still in the queue: queued, announced only, being imported, and the failed one until it expires.
    expect(text).toContain('Queued It will be imported in the next queue run (every few minutes). 0 Next queue run');
    expect(text).toMatch(/Waiting for Moodle Moodle announced this transfer but has not sent it yet\. It is dropped if nothing arrives by [^.]* UTC \. 0 When Moodle sends it/);
    expect(text).toMatch(/Importing now It is being fetched from Moodle and imported\. 0 Now 100 bytes of \d+ bytes fetched/);
    expect(page.body).toContain('<progress max=');
    expect(text).toMatch(/Queued The last try did not work; it will be tried again\. 1 \d+ \w+ \d{4}, \d\d:\d\d UTC Peer did not answer/);
    expect(text).toMatch(/Failed It could not be imported, and no more tries will be made\. .* 1 None Failed to retrieve zipfile .*Could not find token/);
  });

  it('the home page greets the student, counts their things and shows the latest transfers', async () => {
    const page = await site.amelia.get('/');
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    expect(text).toContain('Hello, Amelia Hart');
    const files = Number(await db()('artefacts').where({ owner: site.ameliaId }).whereIn('artefacttype', ['file', 'image']).count({ n: '*' }).first().then((r) => r!.n));
    expect(text).toContain(`Files : ${files} files`);
    expect(text).toContain('Journals : 0 journal posts in 0 journals');
    expect(text).toContain('Importing now');
    expect(text).toContain('Imported Everything in this transfer was saved');
    for (const [label, path] of [
      ['Files', '/artefact/file/'],
      ['Journals', '/journal/'],
      ['Imports', '/imports/'],
      ['All transfers', '/imports/'],
    ]) {
      expect(page.body).toContain(`<a href="${path}">${label}</a>`);
    }
  });
});
