import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLeapFeed } from '../../../src/artefacts/leap2a/index.js';
import { engines, type TestDb } from '../../helpers/db.js';
import { createImportFixture, type ImportFixture } from '../../helpers/import-context.js';
import { artefactsOf, FIXTURES, OPTIONS, PNG, writePackage } from './leap2a-support.js';

/**
 * Mahara's behat export in both namespace spellings, and variants of it (portfolio-import.md §6.3;
 * checklist items 33, 35, 36, 45). XML only: the two file entries have no bytes and are skipped with a warning.
 */
const canonical = await fs.readFile(path.join(FIXTURES, 'mahara-behat-leap2a-canonical-ns.xml'), 'utf8');
const archiveOrg = await fs.readFile(path.join(FIXTURES, 'mahara-behat-leap2a-archiveorg-ns.xml'), 'utf8');

/** The same document in 2009-03 terms: prefixes leap/leaptype, cetis.ac.uk URIs, no version element. */
function as2009(xml: string): string {
  return xml
    .replace(
      'xmlns:leap2="http://terms.leapspecs.org/"',
      'xmlns:leap="http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#" xmlns:leaptype="http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#"',
    )
    .replace('http://wiki.leapspecs.org/2A/categories/', 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_categories/')
    .replace(/<leap2:version>[^<]*<\/leap2:version>/, '')
    .replace(/rdf:resource="leap2:/g, 'rdf:resource="leaptype:')
    .replace(/leap2:/g, 'leap:');
}

describe.each(engines)('LEAP2A import of the Mahara behat feed ($name)', (engine) => {
  let testDb: TestDb;
  let root: string;
  const fixtures: ImportFixture[] = [];

  beforeAll(async () => {
    testDb = await engine.create();
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'leap2a-behat-'));
  });

  afterAll(async () => {
    for (const f of fixtures) await f.cleanup();
    await fs.rm(root, { recursive: true, force: true });
    await testDb?.drop();
  });

  /** Imports `xml` for a new user; returns what the user has afterwards, without ids. */
  const importXml = async (xml: string, files: Record<string, Buffer> = {}) => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    const xmlPath = await writePackage(root, xml, files);
    const { warnings } = await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS));
    const rows = await artefactsOf(testDb.db, fixture.user.id);
    const titleOf = (id: number | null) => (id === null ? null : rows.find((r) => r.id === id)?.title);
    const views = (await testDb.db('views').where({ owner: fixture.user.id }).orderBy('id').select('id', 'type', 'title')) as Array<{ id: number; type: string; title: string }>;
    const blocks = await testDb.db('view_blocks').whereIn('view', views.map((v) => v.id)).orderBy(['view', 'displayorder']).select('blocktype', 'title');
    return {
      warnings,
      user: (await testDb.db('users').where({ id: fixture.user.id }).first('first_name', 'last_name', 'email')) as unknown,
      artefacts: rows.map((r) => ({ type: r.artefacttype, title: r.title, parent: titleOf(r.parent), published: r.published, description: r.description })),
      views: views.map((v) => [v.type, v.title]),
      blocks,
    };
  };

  it('makes 3 pages, 1 journal with 1 post and 1 plan; the file entries are skipped with a warning (33)', async () => {
    const result = await importXml(canonical);
    expect(result.views).toEqual([
      ['profile', 'Profile page'],
      ['dashboard', 'Dashboard page'],
      ['portfolio', 'Portfolio page Alice 1'],
    ]);
    expect(result.artefacts.map((a) => [a.type, a.title, a.parent])).toEqual([
      ['contactinformation', 'Contact information', null],
      ['blog', "Alice User1's Journal", null],
      ['blogpost', 'Journal entry Alice 1', "Alice User1's Journal"],
      ['plan', 'Alice Plan', null],
    ]);
    expect(result.warnings).toEqual([
      'the file for entry portfolio:artefact181 does not exist in the import',
      'the file for entry portfolio:artefact182 does not exist in the import',
    ]);
    expect(result.blocks.filter((b) => b.blocktype === 'text')).toEqual([{ blocktype: 'text', title: 'Alice Text 1' }]);
  });

  it('never offers the person entry to plugins and changes no profile field (33, 39)', async () => {
    const fixture = await createImportFixture(testDb.db);
    fixtures.push(fixture);
    const before = await testDb.db('users').where({ id: fixture.user.id }).first('first_name', 'last_name', 'email');
    const xmlPath = await writePackage(root, canonical);
    const { warnings } = await fixture.run((ctx) => importLeapFeed(xmlPath, ctx, OPTIONS), { loglevel: 2 });
    expect(warnings.join('\n')).not.toContain('artefactinternal');
    const rows = await artefactsOf(testDb.db, fixture.user.id);
    expect(rows.filter((r) => ['firstname', 'lastname', 'email', 'studentid'].includes(r.artefacttype))).toEqual([]);
    expect(await testDb.db('users').where({ id: fixture.user.id }).first('first_name', 'last_name', 'email')).toEqual(before);
  });

  it('gives the same result for the web.archive.org namespaces (33)', async () => {
    const a = await importXml(canonical);
    const b = await importXml(archiveOrg);
    expect(b.artefacts).toEqual(a.artefacts);
    expect(b.views).toEqual(a.views);
    expect(b.blocks).toEqual(a.blocks);
    expect(b.warnings).toEqual(a.warnings);
  });

  it('reads the 2009-03 namespaces, prefixes leap/leaptype, no version element (35)', async () => {
    const a = await importXml(canonical);
    const b = await importXml(as2009(canonical));
    expect(b.artefacts).toEqual(a.artefacts);
    expect(b.views).toEqual(a.views);
  });

  it('imports a 2009-03 leaptype:resource with an enclosure as a file (35)', async () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
      xmlns:leap="http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#" xmlns:leaptype="http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#"
      xmlns:categories="http://wiki.cetis.ac.uk/2009-03/LEAP2A_categories/">
  <id>urn:x</id><title>Old export</title><author><name>A</name></author>
  <entry><id>urn:x:1</id><title>dot.png</title><rdf:type rdf:resource="leaptype:resource"/>
    <link rel="enclosure" href="files/dot.png" type="image/png"/></entry>
</feed>`;
    const result = await importXml(xml, { 'files/dot.png': PNG });
    expect(result.warnings).toEqual([]);
    expect(result.artefacts.filter((a) => a.type === 'image').map((a) => [a.title, a.parent])).toEqual([['dot.png', null]]);
  });

  it('does not depend on prefix names: leap2 renamed to x gives the same result (36)', async () => {
    const renamed = canonical.replace(/xmlns:leap2=/g, 'xmlns:x=').replace(/leap2:/g, 'x:').replace(/categories:/g, 'c:').replace('xmlns:categories=', 'xmlns:c=');
    const a = await importXml(canonical);
    const b = await importXml(renamed);
    expect(b.artefacts).toEqual(a.artefacts);
    expect(b.views).toEqual(a.views);
  });

  it('imports the same feed the same way twice (45)', async () => {
    const a = await importXml(canonical);
    const b = await importXml(canonical);
    expect(b).toEqual(a);
  });
});
