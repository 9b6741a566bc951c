import { describe, expect, it } from 'vitest';
import { normaliseFormat, readFetchNow, readImportData } from '../../../src/portfolio/import-data.js';
import { MnetFault } from '../../../src/errors.js';

/** send_content_ready's arguments as real Moodle sends them (portfolio-import.md §1.3, §4.1, §8 rows 10–14). */
const SHA = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3';
const good = {
  filesmanifest: { [SHA]: { filename: 'essay.pdf', sha1: SHA, size: 48213 } },
  zipfilesha1: '3c1d'.padEnd(40, '0'),
  zipfilesize: 47110,
  totalsize: 48213,
};

describe('normaliseFormat', () => {
  it('maps Moodle and Mahara names, trimmed; anything else is "Invalid format <f>"', () => {
    expect(['file', 'files', ' file '].map(normaliseFormat)).toEqual(['file', 'file', 'file']);
    expect(['leap2a', 'leap'].map(normaliseFormat)).toEqual(['leap', 'leap']);
    expect(thrown(() => normaliseFormat('pdf'))).toMatchObject({ code: 0, message: 'Invalid format pdf' });
    expect(thrown(() => normaliseFormat(undefined))).toMatchObject({ code: 0, message: 'Invalid format ' });
  });
});

describe('readFetchNow', () => {
  it("reads what Moodle sends ('1' / '') and the int and boolean forms", () => {
    expect(['1', 1, true, 'yes'].map(readFetchNow)).toEqual([true, true, true, true]);
    expect(['', '0', 0, false, undefined, null].map(readFetchNow)).toEqual([false, false, false, false, false, false]);
  });
});

describe('readImportData', () => {
  it('accepts Moodle\'s struct, lower-casing hashes', () => {
    expect(readImportData({ ...good, zipfilesha1: good.zipfilesha1.toUpperCase() })).toEqual(good);
  });

  it.each([
    ['not a struct', 'x', 'Invalid importdata: Missing files manifest in import data'],
    ['no manifest', { ...good, filesmanifest: undefined as never }, 'Invalid importdata: Missing files manifest in import data'],
    ['empty manifest', { ...good, filesmanifest: {} }, 'Invalid importdata: Missing files manifest in import data'],
    ['no zip sha1', { ...good, zipfilesha1: undefined as never }, 'Invalid importdata: Missing zipfile sha1 in import data'],
    ['no totalsize', { ...good, totalsize: undefined as never }, 'Invalid importdata: missing totalsize'],
    ['no zipfilesize', { ...good, zipfilesize: undefined as never }, 'Invalid importdata: missing zipfilesize'],
    ['negative size', { ...good, totalsize: -5 }, 'Invalid importdata: totalsize is not a non-negative integer'],
    ['bad item sha1', { ...good, filesmanifest: { x: { filename: 'a', sha1: 'nope', size: 1 } } }, 'Invalid importdata: manifest item x has no valid sha1'],
    ['path in filename', { ...good, filesmanifest: { [SHA]: { filename: 'dir/a', sha1: SHA, size: 1 } } }, `Invalid importdata: manifest item ${SHA} has an unsafe filename`],
    ['dot-dot filename', { ...good, filesmanifest: { [SHA]: { filename: '..', sha1: SHA, size: 1 } } }, `Invalid importdata: manifest item ${SHA} has an unsafe filename`],
  ])('%s → fault 0 with Mahara\'s text', (_case, data, message) => {
    const clean = typeof data === 'object' ? Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) : data;
    expect(thrown(() => readImportData(clean as never))).toMatchObject({ code: 0, message });
  });
});

function thrown(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    return { code: (err as MnetFault).code, message: (err as MnetFault).message };
  }
  return expect.fail('expected an MnetFault');
}
