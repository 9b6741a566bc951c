import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  detectFileType,
  extensionKey,
  extensionOf,
  isAllowedType,
  type DetectedFileType,
} from '../../../src/artefacts/file-type.js';

/** §5.4 MIME type / artefact type / allowed types, and §6.8 (declared type as a hint only). */

const u16be = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const u16le = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff];
const u32be = (n: number): number[] => [...u16be(n >>> 16), ...u16be(n & 0xffff)];
const u32le = (n: number): number[] => [...u16le(n & 0xffff), ...u16le(n >>> 16)];
const u24le = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff];
const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

const PNG_640x480 = bytes(
  [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  u32be(13), 'IHDR', u32be(640), u32be(480), [8, 2, 0, 0, 0], u32be(0),
  u32be(0), 'IEND', [0xae, 0x42, 0x60, 0x82],
);

function jpeg(width: number, height: number, app1Bytes = 0): Buffer {
  const app0 = bytes([0xff, 0xe0], u16be(16), 'JFIF\0', [1, 1, 0], u16be(1), u16be(1), [0, 0]);
  const app1 = app1Bytes > 0 ? bytes([0xff, 0xe1], u16be(app1Bytes + 2), Buffer.alloc(app1Bytes, 0x20)) : Buffer.alloc(0);
  const dqt = bytes([0xff, 0xdb], u16be(67), [0], Buffer.alloc(64, 1));
  const sof0 = bytes([0xff, 0xc0], u16be(17), [8], u16be(height), u16be(width), [3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return bytes([0xff, 0xd8], app0, app1, dqt, sof0, [0xff, 0xda], u16be(8), [1, 1, 0, 0, 0x3f, 0], [0x12, 0x34], [0xff, 0xd9]);
}

const GIF_10x20 = bytes('GIF89a', u16le(10), u16le(20), [0xf0, 0, 0], [0, 0, 0, 0xff, 0xff, 0xff], ';');
const WEBP_VP8X = bytes('RIFF', u32le(22), 'WEBP', 'VP8X', u32le(10), [0x10, 0, 0, 0], u24le(1919), u24le(1079));
const WEBP_VP8L = bytes('RIFF', u32le(17), 'WEBP', 'VP8L', u32le(5), [0x2f], u32le((100 - 1) | ((50 - 1) << 14)));
const WEBP_VP8 = bytes('RIFF', u32le(22), 'WEBP', 'VP8 ', u32le(10), [0x10, 0x02, 0x00], [0x9d, 0x01, 0x2a], u16le(300), u16le(200));
const BMP_4x3 = bytes('BM', u32le(70), u32le(0), u32le(54), u32le(40), u32le(4), u32le(-3 >>> 0), u16le(1), u16le(24), Buffer.alloc(24));
const TIFF_BE = bytes('MM\0*', u32be(8), u16be(2), u16be(256), u16be(3), u32be(1), u16be(77), u16be(0), u16be(257), u16be(4), u32be(1), u32be(33), u32be(0));
const PDF = bytes('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n');
const ZIP = bytes('PK\x03\x04', [20, 0, 0, 0, 8, 0], Buffer.alloc(16), u16le(5), u16le(0), 'a.txt', [0x4b, 0x04, 0]);
const ODF_MIME = 'application/vnd.oasis.opendocument.text';
const ODT = bytes('PK\x03\x04', [20, 0, 0, 0, 0, 0], Buffer.alloc(8), u32le(ODF_MIME.length), u32le(ODF_MIME.length),
  u16le(8), u16le(0), 'mimetype', ODF_MIME, 'PK\x03\x04');
const MP3_ID3 = bytes('ID3', [3, 0, 0, 0, 0, 0, 0], [0xff, 0xfb, 0x90, 0x64], Buffer.alloc(64));
const MP3_FRAME = bytes([0xff, 0xfb, 0x90, 0x64], Buffer.alloc(64));
const MP4 = bytes(u32be(24), 'ftyp', 'isom', u32be(512), 'isomiso2', u32be(8), 'free');
const M4A = bytes(u32be(20), 'ftyp', 'M4A ', u32be(0), 'M4A ', u32be(8), 'free');
const OGG_THEORA = bytes('OggS', [0, 2], Buffer.alloc(20), [1, 42], '\x80theora', Buffer.alloc(20));
const TEXT = Buffer.from('Week 3 reading log\nSampling follows the question — café notes.\n', 'utf8');
const JUNK = Buffer.from([0x00, 0x13, 0x37, 0xc0, 0xde, 0x00, 0xff, 0x01, 0x02, 0x9a, 0x00, 0x00]);
const SVG = Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\n');
const HTML = Buffer.from('<!DOCTYPE html>\n<html><body><script>alert(1)</script></body></html>\n');

let dir: string;
let n = 0;
async function detect(content: Buffer, filename: string, declared?: string): Promise<DetectedFileType> {
  const file = path.join(dir, `f${n++}`);
  fs.writeFileSync(file, content);
  return detectFileType(file, filename, declared);
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-type-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('extensionOf / extensionKey', () => {
  it.each([
    ['essay.pdf', 'pdf'],
    ['Research proposal v2.PDF', 'PDF'],
    ['archive.tar.gz', 'gz'],
    ['README', 'README'],
    ['.bashrc', 'bashrc'],
    ['trailing.', ''],
  ])('%j → %j', (name, ext) => {
    expect(extensionOf(name)).toBe(ext);
    expect(extensionKey(name)).toBe(ext.toLowerCase());
  });
});

describe('detectFileType: images (§5.4 step 1)', () => {
  it.each([
    ['PNG with IHDR', PNG_640x480, 'a.png', 'image/png', 640, 480],
    ['JPEG with APP0 before SOF0', jpeg(1024, 768), 'a.jpg', 'image/jpeg', 1024, 768],
    ['JPEG whose SOF0 lies beyond the first 4 KB', jpeg(33, 44, 9000), 'a.jpeg', 'image/jpeg', 33, 44],
    ['GIF', GIF_10x20, 'a.gif', 'image/gif', 10, 20],
    ['WebP VP8X', WEBP_VP8X, 'a.webp', 'image/webp', 1920, 1080],
    ['WebP VP8L', WEBP_VP8L, 'a.webp', 'image/webp', 100, 50],
    ['WebP VP8', WEBP_VP8, 'a.webp', 'image/webp', 300, 200],
    ['BMP (top-down)', BMP_4x3, 'a.bmp', 'image/bmp', 4, 3],
    ['TIFF big-endian', TIFF_BE, 'a.tif', 'image/tiff', 77, 33],
  ])('%s', async (_label, content, name, mime, width, height) => {
    expect(await detect(content, name)).toEqual({ artefactType: 'image', mime, width, height, sniffedMime: mime });
  });

  it('a PNG named x.pdf is an image artefact with MIME type image/png, and allowed (checklist 31)', async () => {
    const d = await detect(PNG_640x480, 'x.pdf', 'application/pdf');
    expect(d).toMatchObject({ artefactType: 'image', mime: 'image/png', width: 640, height: 480 });
    expect(isAllowedType('x.pdf', d, [])).toBe(true);
    expect(isAllowedType('x.pdf', d, ['pdf', 'png'])).toBe(true);
  });

  it('the header decides the image MIME type, not the extension', async () => {
    expect(await detect(GIF_10x20, 'photo.JPG')).toMatchObject({ artefactType: 'image', mime: 'image/gif' });
  });

  it('SVG is not sniffed as an image', async () => {
    expect(await detect(SVG, 'logo.svg')).toEqual({ artefactType: 'file', mime: 'image/svg+xml', sniffedMime: 'image/svg+xml' });
  });

  it('an image signature without usable dimensions is not an image; the extension gives the MIME type', async () => {
    const truncated = PNG_640x480.subarray(0, 12);
    expect(await detect(truncated, 'a.png')).toEqual({ artefactType: 'file', mime: 'image/png', sniffedMime: 'image/png' });
    const zeroWidth = Buffer.from(PNG_640x480);
    zeroWidth.writeUInt32BE(0, 16);
    expect(await detect(zeroWidth, 'a.png')).toMatchObject({ artefactType: 'file', mime: 'image/png' });
    expect(await detect(bytes([0xff, 0xd8, 0xff, 0xd9]), 'a.jpg')).toMatchObject({ artefactType: 'file', mime: 'image/jpeg' });
    const allFill = bytes([0xff, 0xd8], Buffer.alloc(20000, 0xff));
    expect(await detect(allFill, 'a.jpg')).toMatchObject({ artefactType: 'file', mime: 'image/jpeg' });
  });

  it('an extension-only image (bytes are not an image) keeps the table MIME type as a plain file', async () => {
    expect(await detect(JUNK, 'fake.png')).toEqual({ artefactType: 'file', mime: 'image/png' });
  });
});

describe('detectFileType: non-images (§5.4 steps 2–3)', () => {
  it.each([
    ['PDF', PDF, 'essay.pdf', 'file', 'application/pdf'],
    ['.docx is OOXML, not an archive, though its bytes are a zip', ZIP, 'essay.docx', 'file',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
    ['zip', ZIP, 'bundle.zip', 'archive', 'application/zip'],
    ['tgz by extension', JUNK, 'src.tgz', 'archive', 'application/gzip'],
    ['mp3 with ID3', MP3_ID3, 'song.mp3', 'audio', 'audio/mpeg'],
    ['mp4', MP4, 'clip.mp4', 'video', 'video/mp4'],
    ['text', TEXT, 'notes.txt', 'file', 'text/plain'],
    ['csv with text content', TEXT, 'data.CSV', 'file', 'text/csv'],
    ['the extension wins over the bytes for non-images', PDF, 'notes.txt', 'file', 'text/plain'],
  ])('%s', async (_label, content, name, artefactType, mime) => {
    expect(await detect(content, name)).toMatchObject({ artefactType, mime });
  });

  it.each([
    ['PDF', PDF, 'file', 'application/pdf'],
    ['zip', ZIP, 'archive', 'application/zip'],
    ['ODF zip with a mimetype entry', ODT, 'file', 'application/vnd.oasis.opendocument.text'],
    ['gzip', bytes([0x1f, 0x8b, 8, 0], Buffer.alloc(20)), 'archive', 'application/gzip'],
    ['mp3 with ID3', MP3_ID3, 'audio', 'audio/mpeg'],
    ['bare MPEG audio frame', MP3_FRAME, 'audio', 'audio/mpeg'],
    ['mp4 ftyp', MP4, 'video', 'video/mp4'],
    ['m4a ftyp', M4A, 'audio', 'audio/mp4'],
    ['Ogg Theora', OGG_THEORA, 'video', 'video/ogg'],
    ['RIFF WAVE', bytes('RIFF', u32le(36), 'WAVE', 'fmt ', Buffer.alloc(20)), 'audio', 'audio/wav'],
    ['EBML webm', bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x82, 0x84], 'webm', Buffer.alloc(8)), 'video', 'video/webm'],
    ['SVG', SVG, 'file', 'image/svg+xml'],
    ['HTML', HTML, 'file', 'text/html'],
    ['UTF-8 text', TEXT, 'file', 'text/plain'],
    ['binary junk', JUNK, 'file', 'application/octet-stream'],
  ])('unknown extension, sniffed: %s', async (_label, content, artefactType, mime) => {
    expect(await detect(content, 'upload')).toMatchObject({ artefactType, mime });
    expect(await detect(content, 'upload.unknownext')).toMatchObject({ artefactType, mime });
  });

  it('text whose 4 KB header ends inside a multi-byte character is still text', async () => {
    const long = Buffer.from(`${'a'.repeat(4095)}éé`, 'utf8');
    expect(await detect(long, 'LICENCE')).toMatchObject({ mime: 'text/plain' });
  });

  it('an empty file with no known extension is application/octet-stream', async () => {
    expect(await detect(Buffer.alloc(0), 'empty')).toEqual({ artefactType: 'file', mime: 'application/octet-stream' });
  });
});

describe('detectFileType: declared MIME type hint (§6.8)', () => {
  it('is used when neither the extension nor sniffing says anything, normalised', async () => {
    expect(await detect(JUNK, 'storedfile', 'Video/X-Custom; codecs="x"')).toEqual({ artefactType: 'video', mime: 'video/x-custom' });
    expect(await detect(JUNK, 'storedfile', 'application/x-7z-compressed')).toMatchObject({ artefactType: 'archive' });
  });

  it('is ignored when not a syntactically valid type/subtype', async () => {
    for (const bad of ['', 'pdf', 'application/', 'a b/c', 'application/pdf/x', 'x-unknown/thing', '../../etc']) {
      expect(await detect(JUNK, 'storedfile', bad)).toMatchObject({ mime: 'application/octet-stream' });
    }
  });

  it('never overrides the extension, sniffing or an image header', async () => {
    expect(await detect(JUNK, 'a.pdf', 'text/html')).toMatchObject({ mime: 'application/pdf' });
    expect(await detect(PDF, 'storedfile', 'text/html')).toMatchObject({ mime: 'application/pdf' });
    expect(await detect(TEXT, 'storedfile', 'text/csv')).toMatchObject({ mime: 'text/plain' });
    expect(await detect(PNG_640x480, 'storedfile', 'application/pdf')).toMatchObject({ mime: 'image/png', artefactType: 'image' });
  });
});

describe('isAllowedType (§5.4)', () => {
  it('allows everything the families permit when the extension list is empty', async () => {
    expect(isAllowedType('essay.pdf', await detect(PDF, 'essay.pdf'), [])).toBe(true);
    expect(isAllowedType('README', await detect(TEXT, 'README'), [])).toBe(true);
  });

  it('refuses an extension not on the site list, compared case-insensitively', async () => {
    const pdf = await detect(PDF, 'Essay.PDF');
    expect(isAllowedType('Essay.PDF', pdf, ['pdf', 'docx'])).toBe(true);
    expect(isAllowedType('Essay.PDF', pdf, ['.PDF'])).toBe(true);
    expect(isAllowedType('Essay.PDF', pdf, ['docx'])).toBe(false);
    expect(isAllowedType('README', await detect(TEXT, 'README'), ['txt'])).toBe(false);
  });

  it.each([
    ['a PDF named x.png', PDF, 'x.png'],
    ['HTML named x.png', HTML, 'x.png'],
    ['text named x.jpg', TEXT, 'x.jpg'],
    ['a PNG named x.mp3', PNG_640x480, 'x.mp3'],
    ['a zip named x.mp4', ZIP, 'x.mp4'],
  ])('refuses %s: the media family of the extension differs from the content', async (_label, content, name) => {
    expect(isAllowedType(name, await detect(content, name), [])).toBe(false);
  });

  it.each([
    ['a PNG named x.pdf', PNG_640x480, 'x.pdf'],
    ['a GIF named x.jpg', GIF_10x20, 'x.jpg'],
    ['a PNG named x.txt', PNG_640x480, 'x.txt'],
    ['a zip named x.docx', ZIP, 'x.docx'],
    ['unrecognised bytes named x.png', JUNK, 'x.png'],
    ['unrecognised bytes named x.wma', JUNK, 'x.wma'],
    ['Ogg video named x.ogg (audio)', OGG_THEORA, 'x.ogg'],
    ['an m4a-branded MP4 named x.mp4', M4A, 'x.mp4'],
    ['SVG', SVG, 'x.svg'],
    ['SVG whose root is past the sniffed header', Buffer.from(`<?xml version="1.0"?><!--${' '.repeat(5000)}--><svg/>`), 'x.svg'],
    ['an mp3 with ID3', MP3_ID3, 'x.mp3'],
  ])('allows %s', async (_label, content, name) => {
    expect(isAllowedType(name, await detect(content, name), [])).toBe(true);
  });

  it('works on a hand-built result without sniffedMime', () => {
    expect(isAllowedType('x.mp3', { artefactType: 'image', mime: 'image/png', width: 1, height: 1 }, [])).toBe(false);
    expect(isAllowedType('x.mp3', { artefactType: 'audio', mime: 'audio/mpeg' }, [])).toBe(true);
  });
});

/** Real Moodle-written packages (shared/testdata/leap2a/moodle/README.md), when the checkout has them. */
const MOODLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/testdata/leap2a/moodle');

function readZipEntry(zipPath: string, entryName: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('error', reject);
      zip.on('end', () => reject(new Error(`${entryName} not in ${zipPath}`)));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName !== entryName) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => { zip.close(); resolve(Buffer.concat(chunks)); });
          stream.on('error', reject);
        });
      });
      zip.readEntry();
    });
  });
}

describe.skipIf(!fs.existsSync(MOODLE))('Moodle test packages', () => {
  it.each([
    ['forum-discussion.zip', 'files/site-map.png', 'site-map.png', 'image', 'image/png', 320, 200],
    ['assign-files.zip', 'files/pilot-site.png', 'pilot-site.png', 'image', 'image/png', 220, 130],
    ['file-format-assign-files.zip', 'pilot-site.png', 'pilot-site.png', 'image', 'image/png', 220, 130],
    ['assign-files.zip', 'files/Research proposal v2.pdf', 'Research proposal v2.pdf', 'file', 'application/pdf', undefined, undefined],
    ['forum-discussion.zip', 'files/Safety notes.pdf', 'Safety notes.pdf', 'file', 'application/pdf', undefined, undefined],
  ])('%s %s', async (zip, entry, name, artefactType, mime, width, height) => {
    const content = await readZipEntry(path.join(MOODLE, zip), entry);
    const d = await detect(content, name, mime);
    expect(d).toMatchObject({ artefactType, mime, sniffedMime: mime });
    expect(d.width).toBe(width);
    expect(d.height).toBe(height);
    expect(isAllowedType(name, d, ['png', 'pdf'])).toBe(true);
  });
});
