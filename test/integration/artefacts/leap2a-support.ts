import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { leapPlugins, type LeapImportOptions } from '../../../src/artefacts/leap2a/index.js';

/** Shared by the leap2a*.test.ts files: fixture paths, package folders, and reading back what an import made. */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/leap2a');
export const MOODLE = path.join(FIXTURES, 'moodle');

export const OPTIONS: LeapImportOptions = { plugins: leapPlugins, skipPersonData: true, adjustScore: (_plugin, _format, score) => score };

/** A 1×1 PNG. */
export const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082',
  'hex',
);

/** Writes `leap2a.xml` and the given files into a new folder under `root`; returns the XML path. */
export async function writePackage(root: string, xml: string, files: Record<string, Buffer | string> = {}): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, 'pkg-'));
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  await fs.writeFile(path.join(dir, 'leap2a.xml'), xml);
  return path.join(dir, 'leap2a.xml');
}

/** Extracts one of Moodle's packages with unzip; returns the path of its leap2a.xml. */
export async function extractMoodlePackage(root: string, name: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, `${name}-`));
  await promisify(execFile)('unzip', ['-q', path.join(MOODLE, `${name}.zip`), '-d', dir]);
  return path.join(dir, 'leap2a.xml');
}

/** Copies a bare XML fixture into its own folder (no attachment bytes next to it). */
export async function xmlOnlyPackage(root: string, fixture: string): Promise<string> {
  return writePackage(root, await fs.readFile(path.join(FIXTURES, fixture), 'utf8'));
}

export interface ArtefactRow {
  id: number;
  artefacttype: string;
  parent: number | null;
  title: string;
  description: string;
  published: boolean;
  author_name: string | null;
  private: boolean;
  extra: unknown;
  ctime: Date;
  mtime: Date;
  on_artefact: number | null;
  on_view: number | null;
}

export async function artefactsOf(db: Knex, owner: number): Promise<ArtefactRow[]> {
  return (await db('artefacts').where({ owner }).orderBy('id')) as ArtefactRow[];
}

export async function attachmentsOf(db: Knex, artefact: number): Promise<number[]> {
  return ((await db('artefact_attachments').where({ artefact }).orderBy('attachment').pluck('attachment')) as number[]).map(Number);
}

export async function tagsOf(db: Knex, artefact: number): Promise<string[]> {
  return (await db('artefact_tags').where({ artefact }).orderBy('tag').pluck('tag')) as string[];
}

/** A wrapper for the hand-written feeds of the tests: Atom, rdf, leap2 and categories declared as Moodle does. */
export function feed(entries: string, head = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:leap2="http://terms.leapspecs.org/" xmlns:categories="http://wiki.leapspecs.org/2A/categories" xmlns:portfolio="https://lms.example/portfolio/export/leap2a/7/1">
<id>https://lms.example/portfolio/export/leap2a/7/1</id><title>Leap2A export from Moodle for Ann Lee</title>
<leap2:version>http://www.leapspecs.org/2010-07/2A/</leap2:version>${head}
<author><name>Ann Lee</name><uri>https://lms.example/user/view.php?id=7</uri></author>
${entries}
</feed>
`;
}
