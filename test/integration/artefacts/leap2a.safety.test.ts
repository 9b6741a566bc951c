import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { importLeapFeed } from '../../../src/artefacts/leap2a/index.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { createImportFixture, type ImportFixture } from '../../helpers/import-context.js';
import { artefactsOf, feed, OPTIONS, PNG, writePackage } from './leap2a-support.js';

/** Paths, refusals and atomicity (portfolio-import.md §6.2, §6.8, §6.9, §7, §8 rows 30–38; checklist 40–43). */
const fileEntry = (id: string, href: string, title = id) =>
  `<entry><id>${id}</id><title>${title}</title><content/><rdf:type rdf:resource="leap2:resource"/><link rel="enclosure" href="${href}"/></entry>`;

async function filesUnder(dir: string): Promise<string[]> {
  const found = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return found.filter((d) => d.isFile()).map((d) => d.name);
}

describe.each(engines)('LEAP2A import safety ($name)', (engine) => {
  let testDb: TestDb;
  let root: string;
  const fixtures: ImportFixture[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'leap2a-safety-'));
  });

  afterAll(async () => {
    for (const f of fixtures) await f.cleanup();
    await fs.rm(root, { recursive: true, force: true });
    await testDb?.drop();
  });

  const newFixture = async (options: { quota?: number } = {}) => {
    const fixture = await createImportFixture(testDb.db, options);
    fixtures.push(fixture);
    return fixture;
  };
  const run = async (xml: string, files: Record<string, Buffer | string> = {}, fixture?: ImportFixture, allowedExtensions?: string[]) => {
    const f = fixture ?? (await newFixture());
    const xmlPath = await writePackage(root, xml, files);
    const { warnings } = await f.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS), allowedExtensions ? { allowedExtensions } : {});
    return { warnings, rows: await artefactsOf(testDb.db, f.user.id), fixture: f };
  };
  const failure = async (xml: string, files: Record<string, Buffer | string> = {}) => {
    const fixture = await newFixture();
    const xmlPath = await writePackage(root, xml, files);
    const err = await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MnetFault);
    expect((err as MnetFault).code).toBe(FaultCode.Application);
    return { message: (err as MnetFault).message, rows: await artefactsOf(testDb.db, fixture.user.id), fixture };
  };

  it('resolves files/a+b.pdf literally (40) and files/my%20notes.pdf percent-decoded', async () => {
    const { rows, warnings } = await run(feed(fileEntry('a', 'files/a+b.pdf', 'a+b.pdf') + fileEntry('b', 'files/my%20notes.pdf', 'my notes.pdf')), {
      'files/a+b.pdf': '%PDF-1.4 a',
      'files/my notes.pdf': '%PDF-1.4 b',
    });
    expect(warnings).toEqual([]);
    expect(rows.filter((r) => r.artefacttype === 'file').map((r) => r.title)).toEqual(['a+b.pdf', 'my notes.pdf']);
  });

  it('never imports a path outside the package (41)', async () => {
    await fs.writeFile(path.join(root, 'outside.txt'), 'secret');
    const hrefs = ['../../etc/passwd', '/etc/passwd', '../outside.txt', 'files/../../outside.txt', '%2e%2e/outside.txt', 'files\\..\\..\\outside.txt'];
    const { rows, warnings } = await run(feed(hrefs.map((h, i) => fileEntry(`e${i}`, h)).join('')));
    expect(rows.filter((r) => !['contactinformation', 'blog', 'blogpost'].includes(r.artefacttype))).toEqual([]);
    expect(warnings).toHaveLength(hrefs.length);
    for (const [i] of hrefs.entries()) expect(warnings[i]).toContain(`the file for entry e${i} does not exist in the import`);
  });

  it('skips an entry whose file is missing, with the warning, and goes on (§8 row 37)', async () => {
    const { rows, warnings } = await run(feed(fileEntry('gone', 'files/gone.pdf') + fileEntry('here', 'files/here.png')), { 'files/here.png': PNG });
    expect(warnings).toEqual(['the file for entry gone does not exist in the import']);
    expect(rows.filter((r) => r.artefacttype === 'image').map((r) => r.title)).toEqual(['here']);
  });

  it('rejects a DOCTYPE before creating anything (42)', async () => {
    const xml = feed(fileEntry('a', 'files/a.png')).replace('<feed', '<!DOCTYPE feed [<!ENTITY x "y">]>\n<feed');
    const { message, rows } = await failure(xml, { 'files/a.png': PNG });
    expect(message).toBe('FATAL: XML not accepted: DOCTYPE declarations are not accepted');
    expect(rows).toEqual([]);
  });

  it('reads &nbsp; as a space (43)', async () => {
    const { rows } = await run(feed('<entry><id>e</id><title>A&nbsp;B</title><content>x&nbsp;y</content><rdf:type rdf:resource="leap2:entry"/></entry>'));
    const post = rows.find((r) => r.artefacttype === 'blogpost')!;
    expect([post.title, post.description]).toEqual(['A B', 'x y']);
  });

  it('fails on malformed XML with the parser line (§8 row 30)', async () => {
    const { message, rows } = await failure(feed('<entry><id>e</id><title>x</titel></entry>'));
    expect(message.split('\n')[0]).toBe('FATAL: XML not well formed');
    expect(message.split('\n')).toHaveLength(2);
    expect(rows).toEqual([]);
  });

  it('fails on an unsupported leap2:version (34)', async () => {
    const { message } = await failure(feed('').replace('http://www.leapspecs.org/2010-07/2A/', 'http://www.leapspecs.org/2011-01/2A/'));
    expect(message).toBe('FATAL: The version of the uploaded LEAP2A file is not supported by this Mahara version');
  });

  it('leaves nothing behind when a later entry fails the import (§6.9)', async () => {
    const xml = feed(fileEntry('f', 'files/f.png') + '<entry><id>bad</id><title>B</title><content type="markdown">*x*</content><rdf:type rdf:resource="leap2:entry"/></entry>');
    // Content no other test stores, so its blob is this import's own.
    const png = Buffer.concat([PNG, crypto.randomBytes(16)]);
    const { message, rows, fixture } = await failure(xml, { 'files/f.png': png });
    expect(message).toBe("Unrecognised content type for entry 'bad' (markdown)");
    expect(rows).toEqual([]);
    const hash = crypto.createHash('sha256').update(png).digest('hex');
    expect(await testDb.db('blobs').where({ hash }).first()).toBeUndefined();
    expect(await filesUnder(path.join(fixture.dir, 'files'))).toEqual([]);
  });

  it('skips a single file over quota with a warning and imports the rest (§8 row 38)', async () => {
    const fixture = await newFixture({ quota: 40 });
    const { rows, warnings } = await run(
      feed(fileEntry('big', 'files/big.pdf') + '<entry><id>p</id><title>P</title><content>x</content><rdf:type rdf:resource="leap2:entry"/></entry>'),
      { 'files/big.pdf': `%PDF-1.4 ${'x'.repeat(100)}` },
      fixture,
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^big: /);
    expect(rows.filter((r) => r.artefacttype === 'file')).toEqual([]);
    expect(rows.filter((r) => r.artefacttype === 'blogpost')).toHaveLength(1);
  });

  it('skips a file whose type the site does not allow (§5.4, §6.9)', async () => {
    const { rows, warnings } = await run(feed(fileEntry('img', 'files/a.png')), { 'files/a.png': PNG }, undefined, ['pdf']);
    expect(warnings).toHaveLength(1);
    expect(rows.filter((r) => r.artefacttype === 'image')).toEqual([]);
  });
});
