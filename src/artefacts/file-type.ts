/**
 * MIME type and artefact type of an imported file, and the allowed-type check (portfolio-import.md §5.4;
 * LEAP file entries use the same rules, §6.8).
 *
 * 1. Content that is an image (PNG, JPEG, GIF, WebP, BMP, TIFF, sniffed from the header with parsable
 *    dimensions; SVG is not an image here) → artefact type *image*, MIME type from the header, width and height.
 * 2. Otherwise the MIME type comes from the extension (mime-table.ts); for an unknown extension from magic
 *    sniffing; then from the package's declared type if it is syntactically valid; last
 *    `application/octet-stream`. So for non-images the extension wins over the bytes: a `.docx` is OOXML,
 *    not an archive, although it is a zip.
 * 3. video/* → video, audio/* → audio, archive types → archive, anything else → file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ARCHIVE_MIMES, mimeForExtension, normaliseDeclaredMime, sniffMime } from './mime-table.js';

export type FileArtefactType = 'image' | 'audio' | 'video' | 'archive' | 'file';

export interface DetectedFileType {
  artefactType: FileArtefactType;
  mime: string;
  width?: number;
  height?: number;
  /**
   * What the bytes alone say (magic sniffing, ignoring name and declared type); undefined when nothing was
   * recognised. isAllowedType compares its family with the one the extension implies.
   */
  sniffedMime?: string;
}

/** How much of the file is read up front; JPEG segments and the TIFF IFD are reached by positional reads. */
const HEAD_BYTES = 4096;
/** JPEG: give up looking for a SOFn marker after this many markers (fill bytes included). */
const MAX_JPEG_MARKERS = 1024;
/** TIFF: a first IFD with more entries than this is treated as corrupt. */
const MAX_TIFF_ENTRIES = 1024;

/**
 * The "original extension" of §5.4: the text after the last `.` of the filename, or the whole name if
 * it has no dot. Returned as given (it is stored that way); use extensionKey for look-ups and comparisons.
 */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return dot < 0 ? filename : filename.slice(dot + 1);
}

/** The lower-cased extension, the form used for the file-type table and the site's extension list. */
export function extensionKey(filename: string): string {
  return extensionOf(filename).toLowerCase();
}

/** Reads at most the first few KB of the file at `path` (plus a few positional reads for JPEG/TIFF). */
export async function detectFileType(path: string, filename: string, declaredMime?: string): Promise<DetectedFileType> {
  const fh = await open(path, 'r');
  try {
    const reader = new HeaderReader(fh);
    const head = await reader.read(0, HEAD_BYTES);
    reader.head = head;
    const image = await imageInfo(head, reader);
    const sniffedMime = image?.mime ?? sniffMime(head);
    const withSniffed = sniffedMime === undefined ? {} : { sniffedMime };
    if (image) return { artefactType: 'image', mime: image.mime, width: image.width, height: image.height, ...withSniffed };
    const mime = mimeForExtension(extensionKey(filename)) ?? sniffedMime ?? normaliseDeclaredMime(declaredMime)
      ?? 'application/octet-stream';
    return { artefactType: artefactTypeForMime(mime), mime, ...withSniffed };
  } finally {
    await fh.close();
  }
}

/** §5.4 step 3 for a non-image MIME type. */
export function artefactTypeForMime(mime: string): Exclude<FileArtefactType, 'image'> {
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  return ARCHIVE_MIMES.has(mime) ? 'archive' : 'file';
}

const MEDIA_FAMILIES = new Set(['image', 'audio', 'video']);

/**
 * Allowed types (§5.4). False when the site has an extension list (non-empty `allowedExtensions`,
 * compared case-insensitively, a leading dot tolerated) and the extension is not on it.
 *
 * Also false when the family the extension implies differs from the family of the content. Our reading
 * of that rule, which keeps checklist item 31 ("a PNG named x.pdf is stored as an image artefact with
 * MIME type image/png") true: only an extension of a *media* family (image, audio, video) is held to
 * its family, so `x.pdf` holding a PNG is allowed while `x.png` holding a PDF or HTML, or `x.mp3`
 * holding a PNG, is refused. The content family comes from sniffing; when the bytes are not recognised
 * there is nothing to contradict the extension and the file is allowed. Audio and video count as one
 * family, because containers (Ogg, MP4, Matroska, ASF) hold either and their headers do not say which;
 * an `.svg` (text-based) also accepts XML or plain-text content.
 */
export function isAllowedType(filename: string, detected: DetectedFileType, allowedExtensions: readonly string[]): boolean {
  const ext = extensionKey(filename);
  if (allowedExtensions.length > 0 && !allowedExtensions.some((a) => a.replace(/^\./, '').toLowerCase() === ext)) return false;
  const extMime = mimeForExtension(ext);
  const extFamily = familyOf(extMime);
  if (extMime === undefined || !MEDIA_FAMILIES.has(extFamily)) return true;
  const content = detected.sniffedMime ?? (detected.artefactType === 'image' ? detected.mime : undefined);
  if (content === undefined) return true;
  const contentFamily = familyOf(content);
  if (contentFamily === extFamily) return true;
  if (isAudioVideo(extFamily) && isAudioVideo(contentFamily)) return true;
  return extMime === 'image/svg+xml' && (contentFamily === 'text' || content === 'application/xml');
}

const familyOf = (mime: string | undefined): string => (mime ?? '').split('/', 1)[0] ?? '';
const isAudioVideo = (family: string): boolean => family === 'audio' || family === 'video';

// ---- image headers ----

interface ImageInfo { mime: string; width: number; height: number }

/** Serves reads from the header buffer when it covers them, from the file otherwise. */
class HeaderReader {
  head: Buffer = Buffer.alloc(0);
  constructor(private readonly fh: FileHandle) {}

  async read(position: number, length: number): Promise<Buffer> {
    if (position + length <= this.head.length) return this.head.subarray(position, position + length);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  }
}

/** Like getimagesize(): an image only if the header is recognised and gives non-zero dimensions. */
async function imageInfo(head: Buffer, reader: HeaderReader): Promise<ImageInfo | undefined> {
  const dims = await imageDimensions(head, reader);
  if (!dims || !(dims.width > 0 && dims.height > 0)) return undefined;
  return dims;
}

async function imageDimensions(head: Buffer, reader: HeaderReader): Promise<ImageInfo | undefined> {
  const mime = sniffMime(head.subarray(0, 64));
  switch (mime) {
    case 'image/png':
      // The first chunk must be IHDR: width and height are big-endian u32 at 16 and 20.
      if (head.length < 24 || head.toString('latin1', 12, 16) !== 'IHDR') return undefined;
      return { mime, width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
    case 'image/gif':
      if (head.length < 10) return undefined;
      return { mime, width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
    case 'image/webp':
      return webpDimensions(head);
    case 'image/bmp': {
      if (head.length < 26) return undefined;
      if (head.readUInt32LE(14) === 12) return { mime, width: head.readUInt16LE(18), height: head.readUInt16LE(20) };
      return { mime, width: Math.abs(head.readInt32LE(18)), height: Math.abs(head.readInt32LE(22)) };
    }
    case 'image/jpeg':
      return jpegDimensions(reader);
    case 'image/tiff':
      return tiffDimensions(head, reader);
    default:
      return undefined;
  }
}

function webpDimensions(head: Buffer): ImageInfo | undefined {
  const mime = 'image/webp';
  const chunk = head.toString('latin1', 12, 16);
  if (chunk === 'VP8 ' && head.length >= 30) {
    // Key-frame tag (3 bytes) then the start code 9d 01 2a, then 14-bit width and height.
    if (head[23] !== 0x9d || head[24] !== 0x01 || head[25] !== 0x2a) return undefined;
    return { mime, width: head.readUInt16LE(26) & 0x3fff, height: head.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L' && head.length >= 25) {
    if (head[20] !== 0x2f) return undefined;
    const bits = head.readUInt32LE(21);
    return { mime, width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X' && head.length >= 30) {
    return { mime, width: head.readUIntLE(24, 3) + 1, height: head.readUIntLE(27, 3) + 1 };
  }
  return undefined;
}

/** Walks the marker segments from SOI to the first SOFn (not DHT C4, JPG C8, DAC CC); stops at SOS/EOI. */
async function jpegDimensions(reader: HeaderReader): Promise<ImageInfo | undefined> {
  let pos = 2;
  for (let markers = 0; markers < MAX_JPEG_MARKERS; markers++) {
    const b = await reader.read(pos, 4);
    if (b.length < 2 || b[0] !== 0xff) return undefined;
    const marker = b[1] ?? 0;
    if (marker === 0xff) { pos += 1; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { pos += 2; continue; } // no length
    if (marker === 0xd9 || marker === 0xda || b.length < 4) return undefined;
    const length = b.readUInt16BE(2);
    if (length < 2) return undefined;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const sof = await reader.read(pos + 4, 5); // precision, height, width
      if (sof.length < 5) return undefined;
      return { mime: 'image/jpeg', width: sof.readUInt16BE(3), height: sof.readUInt16BE(1) };
    }
    pos += 2 + length;
  }
  return undefined;
}

/** ImageWidth (256) and ImageLength (257) from the first IFD, SHORT or LONG values. */
async function tiffDimensions(head: Buffer, reader: HeaderReader): Promise<ImageInfo | undefined> {
  if (head.length < 8) return undefined;
  const le = head[0] === 0x49;
  const u16 = (b: Buffer, at: number): number => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (b: Buffer, at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const ifd = u32(head, 4);
  const countBuf = await reader.read(ifd, 2);
  if (countBuf.length < 2) return undefined;
  const count = u16(countBuf, 0);
  if (count > MAX_TIFF_ENTRIES) return undefined;
  const entries = await reader.read(ifd + 2, count * 12);
  let width: number | undefined;
  let height: number | undefined;
  for (let at = 0; at + 12 <= entries.length; at += 12) {
    const tag = u16(entries, at);
    const type = u16(entries, at + 2);
    if ((tag !== 256 && tag !== 257) || (type !== 3 && type !== 4)) continue;
    const value = type === 3 ? u16(entries, at + 8) : u32(entries, at + 8);
    if (tag === 256) width = value;
    else height = value;
  }
  return width !== undefined && height !== undefined ? { mime: 'image/tiff', width, height } : undefined;
}
