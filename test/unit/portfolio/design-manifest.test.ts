import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import { checkDesignManifest, parseDesignManifest } from '../../../src/portfolio/design-manifest.js';
import { extractZip, type ExtractedEntry } from '../../../src/portfolio/extract-zip.js';
import { DEFAULT_ZIP_LIMITS } from '../../../src/portfolio/zip-limits.js';
import { writeZip } from '../../helpers/zip-writer.js';

const md5 = (data: string) => createHash('md5').update(data).digest('hex');
const MD5_A = md5('a');
const MD5_B = md5('b');

/** The message of the MnetFault 0 that `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    expect((err as MnetFault).code).toBe(FaultCode.Application);
    return (err as MnetFault).message;
  }
  return expect.fail('expected a refusal');
}

/** An extracted entry whose file really holds `content` (the md5s are computed from the files). */
const entryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'design-entries-'));
const entry = (name: string, content: string): ExtractedEntry => {
  const file = path.join(entryDir, name.replaceAll('/', '_'));
  fs.writeFileSync(file, content);
  return { name, path: file, size: content.length, sha1: '', sha256: '' };
};

/** The message of the MnetFault 0 that the promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => expect.fail('expected a refusal'),
    (err: unknown) => {
      expect(err).toBeInstanceOf(MnetFault);
      expect((err as MnetFault).code).toBe(FaultCode.Application);
      return (err as MnetFault).message;
    },
  );
}

describe('parseDesignManifest', () => {
  it('reads md5sum:format:filename lines, skipping blank and # lines, with line numbers', () => {
    const text = `# made by the design-note client\n${MD5_A}:FILE:essay.pdf\n\n   \n${MD5_B.toUpperCase()}:leap:export/leap2a.xml\n`;
    expect(parseDesignManifest(text)).toEqual([
      { md5: MD5_A, format: 'FILE', filename: 'essay.pdf', line: 2 },
      { md5: MD5_B, format: 'LEAP', filename: 'export/leap2a.xml', line: 5 },
    ]);
  });

  it('splits on the first two colons only, so a filename may contain ":" (checklist 50)', () => {
    expect(parseDesignManifest(`${MD5_A}:File:notes: week 1: draft.txt`)).toEqual([
      { md5: MD5_A, format: 'FILE', filename: 'notes: week 1: draft.txt', line: 1 },
    ]);
  });

  it('accepts CRLF line ends and a byte order mark, and normalises the filename as zip entries are', () => {
    expect(parseDesignManifest(`\uFEFF${MD5_A}:FILE:./files//a b.txt\r\n${MD5_B}:FILE:Zoë.txt\r\n`)).toEqual([
      { md5: MD5_A, format: 'FILE', filename: 'files/a b.txt', line: 1 },
      { md5: MD5_B, format: 'FILE', filename: 'Zoë.txt', line: 2 },
    ]);
  });

  it('refuses an unknown format with the spec text', () => {
    expect(refusal(() => parseDesignManifest(`${MD5_A}:FILE:a.txt\n${MD5_B}:PDF:b.pdf`))).toBe('Unknown manifest format PDF on line 2');
    expect(refusal(() => parseDesignManifest(`${MD5_A}::a.txt`))).toBe('Unknown manifest format  on line 1');
  });

  it.each([
    ['no colon', 'just a filename.txt', /^Invalid manifest line 1: expected md5sum:format:filename$/],
    ['one colon', `${MD5_A}:essay.pdf`, /^Invalid manifest line 1: expected/],
    ['a short md5', `${MD5_A.slice(1)}:FILE:a.txt`, /^Invalid manifest line 1: md5sum/],
    ['a non-hex md5', `${'g'.repeat(32)}:FILE:a.txt`, /^Invalid manifest line 1: md5sum/],
    ['a sha1 in place of the md5', `${'a'.repeat(40)}:FILE:a.txt`, /^Invalid manifest line 1: md5sum/],
    ['an empty filename', `${MD5_A}:FILE:`, /^Invalid manifest line 1: missing filename$/],
    ['a parent segment', `${MD5_A}:FILE:../etc/passwd`, /^Invalid manifest line 1: unsafe filename \.\.\/etc\/passwd \(parent directory segment\)$/],
    ['an absolute path', `${MD5_A}:LEAP:/tmp/leap2a.xml`, /unsafe filename .*absolute/],
    ['a drive letter', `${MD5_A}:FILE:C:/x.txt`, /unsafe filename .*absolute/],
    ['a backslash', `${MD5_A}:FILE:files\\a.txt`, /unsafe filename .*backslash/],
    ['a control character', `${MD5_A}:FILE:a\u0007.txt`, /unsafe filename a\\x07\.txt \(control/],
    ['a name over 1024 bytes', `${MD5_A}:FILE:${'a/'.repeat(600)}`, /unsafe filename .*too long/],
    ['a filename listed twice', `${MD5_A}:FILE:a.txt\n${MD5_A}:FILE:./a.txt`, /^Invalid manifest line 2: a\.txt is listed twice$/],
  ])('refuses %s', (_case, text, message) => {
    expect(refusal(() => parseDesignManifest(text))).toMatch(message);
  });

  it('takes an empty manifest as no lines', () => {
    expect(parseDesignManifest('# nothing\n\n')).toEqual([]);
  });
});

describe('checkDesignManifest', () => {
  afterAll(() => fs.rmSync(entryDir, { recursive: true, force: true }));
  const entries = [entry('essay.pdf', 'a'), entry('export/leap2a.xml', 'b'), entry('unlisted.txt', 'c')];

  it('accepts listed files with matching md5s, whatever the case of the hex, and ignores unlisted entries', async () => {
    const lines = parseDesignManifest(`${MD5_A.toUpperCase()}:FILE:essay.pdf\n${MD5_B}:LEAP:export/leap2a.xml`);
    await expect(checkDesignManifest(lines, entries)).resolves.toBeUndefined();
  });

  it('refuses a listed file that is not in the package', async () => {
    const lines = parseDesignManifest(`${MD5_A}:FILE:essay.pdf\n${MD5_A}:FILE:Essay.PDF`);
    expect(await rejection(checkDesignManifest(lines, entries))).toBe('Manifest file Essay.PDF missing from package');
  });

  it('refuses an md5 mismatch (checklist 49)', async () => {
    const lines = parseDesignManifest(`${MD5_A}:FILE:essay.pdf\n${MD5_A}:LEAP:export/leap2a.xml`);
    expect(await rejection(checkDesignManifest(lines, entries))).toBe('md5 mismatch for export/leap2a.xml');
  });
});

describe('a design-note package end to end', () => {
  let work: string | undefined;
  afterEach(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('matches a manifest with ":" in a filename against extracted entries', async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'design-manifest-'));
    const xml = '<feed xmlns="http://www.w3.org/2005/Atom"/>';
    const manifest = `${md5('notes')}:FILE:notes: week 1.txt\n${md5(xml)}:LEAP:leap2a.xml\n`;
    const zip = writeZip(path.join(work, 'import.zip'), [
      { name: 'manifest.txt', data: manifest },
      { name: 'notes: week 1.txt', data: 'notes' },
      { name: 'leap2a.xml', data: xml },
    ]);
    const entries = await extractZip(zip, path.join(work, 'extract'), DEFAULT_ZIP_LIMITS);
    const lines = parseDesignManifest(fs.readFileSync(entries[0]!.path, 'utf8'));
    expect(lines.map((l) => [l.format, l.filename])).toEqual([
      ['FILE', 'notes: week 1.txt'],
      ['LEAP', 'leap2a.xml'],
    ]);
    await expect(checkDesignManifest(lines, entries)).resolves.toBeUndefined();
  });
});
