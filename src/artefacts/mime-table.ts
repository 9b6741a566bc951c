/**
 * The file-type table (extension → MIME type) and the magic-byte sniffer used by file-type.ts
 * (portfolio-import.md §5.4 step 2). Both are pure functions over a header buffer; image dimensions are
 * parsed in file-type.ts.
 */

/** Lower-case extension (no dot) → MIME type: the site's file-type table, common types only. */
const EXTENSION_MIME: Readonly<Record<string, string>> = {
  // documents
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  dot: 'application/msword',
  dotx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.template',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pps: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  ppsx: 'application/vnd.openxmlformats-officedocument.presentationml.slideshow',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
  odg: 'application/vnd.oasis.opendocument.graphics',
  rtf: 'application/rtf',
  epub: 'application/epub+zip',
  // text
  txt: 'text/plain',
  text: 'text/plain',
  log: 'text/plain',
  html: 'text/html',
  htm: 'text/html',
  css: 'text/css',
  csv: 'text/csv',
  md: 'text/markdown',
  json: 'application/json',
  xml: 'application/xml',
  // archives
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
  bz2: 'application/x-bzip2',
  '7z': 'application/x-7z-compressed',
  rar: 'application/x-rar-compressed',
  // audio
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  m4a: 'audio/mp4',
  flac: 'audio/flac',
  aac: 'audio/aac',
  aif: 'audio/aiff',
  aiff: 'audio/aiff',
  mid: 'audio/midi',
  midi: 'audio/midi',
  wma: 'audio/x-ms-wma',
  // video
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  avi: 'video/x-msvideo',
  mkv: 'video/x-matroska',
  ogv: 'video/ogg',
  mpg: 'video/mpeg',
  mpeg: 'video/mpeg',
  '3gp': 'video/3gpp',
  flv: 'video/x-flv',
  wmv: 'video/x-ms-wmv',
  // images (used when the bytes are not a real image, §5.4 step 2)
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jpe: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  ico: 'image/x-icon',
  svg: 'image/svg+xml',
};

/** MIME type for a lower-case extension, or undefined when the table does not know it. */
export function mimeForExtension(extension: string): string | undefined {
  return Object.hasOwn(EXTENSION_MIME, extension) ? EXTENSION_MIME[extension] : undefined;
}

/** MIME types classified as the *archive* artefact type (§5.4 step 3). */
export const ARCHIVE_MIMES: ReadonlySet<string> = new Set([
  'application/zip', 'application/x-zip-compressed', 'application/gzip', 'application/x-gzip',
  'application/x-tar', 'application/x-gtar', 'application/x-bzip2', 'application/x-7z-compressed',
  'application/x-rar', 'application/x-rar-compressed', 'application/vnd.rar',
]);

const TOP_LEVEL_TYPES = new Set(['application', 'audio', 'font', 'image', 'model', 'text', 'video']);
const MIME_SYNTAX = /^([a-z0-9][a-z0-9!#$&^_.+-]{0,126})\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/**
 * A package-declared MIME type (LEAP `content/@type` or `link/@type`) reduced to a lower-case
 * `type/subtype` without parameters, or undefined if it is not syntactically valid (RFC 6838 names) or its
 * top-level type is not one a stored file can have.
 */
export function normaliseDeclaredMime(declared: string | undefined): string | undefined {
  if (declared === undefined) return undefined;
  const bare = (declared.split(';', 1)[0] ?? '').trim().toLowerCase();
  const m = MIME_SYNTAX.exec(bare);
  return m && TOP_LEVEL_TYPES.has(m[1] ?? '') ? bare : undefined;
}

const ascii = (b: Buffer, start: number, end: number): string => b.toString('latin1', start, end);
const startsWith = (b: Buffer, bytes: readonly number[], at = 0): boolean =>
  b.length >= at + bytes.length && bytes.every((v, i) => b[at + i] === v);

/**
 * What the header bytes say the content is, independent of its name; undefined when nothing is
 * recognised (also for an empty file). Images are recognised by signature only here, dimensions and
 * validity are checked by file-type.ts. `head` should hold at least the first 4 KB when the file is that long.
 */
export function sniffMime(head: Buffer): string | undefined {
  if (head.length === 0) return undefined;
  const s4 = ascii(head, 0, 4);
  // images
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return 'image/gif';
  if (s4 === 'II*\0' || s4 === 'MM\0*') return 'image/tiff';
  if (s4.startsWith('BM') && head.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(head.readUInt32LE(14))) return 'image/bmp';
  // RIFF containers
  if (s4 === 'RIFF' && head.length >= 12) {
    const form = ascii(head, 8, 12);
    if (form === 'WEBP') return 'image/webp';
    if (form === 'WAVE') return 'audio/wav';
    if (form === 'AVI ') return 'video/x-msvideo';
  }
  if (s4 === 'FORM' && ['AIFF', 'AIFC'].includes(ascii(head, 8, 12))) return 'audio/aiff';
  // ISO base media (MP4, QuickTime, 3GP, HEIF/AVIF)
  if (ascii(head, 4, 8) === 'ftyp' && head.length >= 12) {
    const brand = ascii(head, 8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand === 'M4A ' || brand === 'M4B ' || brand === 'M4P ') return 'audio/mp4';
    if (brand.startsWith('3g')) return 'video/3gpp';
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (['heic', 'heix', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
    return 'video/mp4';
  }
  // other audio/video
  if (s4 === 'OggS') {
    const page = ascii(head, 28, 36);
    if (page.startsWith('\x80theora')) return 'video/ogg';
    return 'audio/ogg'; // Vorbis, Opus, FLAC in Ogg
  }
  if (s4 === 'fLaC') return 'audio/flac';
  if (s4.startsWith('ID3')) return 'audio/mpeg';
  if (s4 === 'MThd') return 'audio/midi';
  if (ascii(head, 0, 5) === '#!AMR') return 'audio/amr';
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) {
    return ascii(head, 4, Math.min(head.length, 64)).includes('webm') ? 'video/webm' : 'video/x-matroska';
  }
  if (s4.startsWith('FLV\x01')) return 'video/x-flv';
  if (startsWith(head, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) return 'video/x-ms-asf';
  if (startsWith(head, [0x00, 0x00, 0x01, 0xba]) || startsWith(head, [0x00, 0x00, 0x01, 0xb3])) return 'video/mpeg';
  const mpegAudio = sniffMpegAudioFrame(head);
  if (mpegAudio) return mpegAudio;
  // documents and archives
  if (ascii(head, 0, 5) === '%PDF-') return 'application/pdf';
  if (s4 === 'PK\x03\x04') return zipFlavour(head);
  if (s4 === 'PK\x05\x06') return 'application/zip'; // empty zip
  if (startsWith(head, [0x1f, 0x8b])) return 'application/gzip';
  if (ascii(head, 0, 3) === 'BZh') return 'application/x-bzip2';
  if (startsWith(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return 'application/x-7z-compressed';
  if (ascii(head, 0, 6) === 'Rar!\x1a\x07') return 'application/x-rar-compressed';
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'application/x-xz';
  if (ascii(head, 257, 262) === 'ustar') return 'application/x-tar';
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return 'application/x-ole-storage';
  if (ascii(head, 0, 5) === '{\\rtf') return 'application/rtf';
  return sniffText(head);
}

/** MPEG-1/2 audio (layer I–III) or ADTS AAC frame sync at offset 0, with plausible header fields. */
function sniffMpegAudioFrame(head: Buffer): string | undefined {
  if (head.length < 4 || head[0] !== 0xff || ((head[1] ?? 0) & 0xe0) !== 0xe0) return undefined;
  const b1 = head[1] ?? 0;
  const b2 = head[2] ?? 0;
  if (((b1 >> 3) & 3) === 1) return undefined; // reserved version
  const layer = (b1 >> 1) & 3;
  if (layer === 0) return (b1 & 0xf6) === 0xf0 && ((b2 >> 2) & 0xf) < 13 ? 'audio/aac' : undefined; // ADTS
  return (b2 >> 4) !== 15 && ((b2 >> 2) & 3) !== 3 ? 'audio/mpeg' : undefined;
}

/** ODF and EPUB put a stored `mimetype` entry first; anything else in a zip is plain application/zip. */
function zipFlavour(head: Buffer): string {
  if (head.length >= 38 && head.readUInt16LE(8) === 0 && head.readUInt16LE(26) === 8 && ascii(head, 30, 38) === 'mimetype') {
    const start = 38 + head.readUInt16LE(28); // after the name and the extra field
    const declared = normaliseDeclaredMime(ascii(head, start, start + Math.min(head.readUInt32LE(18), 100)));
    if (declared && (declared.startsWith('application/vnd.oasis.opendocument.') || declared === 'application/epub+zip')) return declared;
  }
  return 'application/zip';
}

/** Markup and plain-text heuristics, after an optional BOM and leading white space. */
function sniffText(head: Buffer): string | undefined {
  if (startsWith(head, [0xfe, 0xff]) || startsWith(head, [0xff, 0xfe])) return 'text/plain'; // UTF-16 BOM
  let body = startsWith(head, [0xef, 0xbb, 0xbf]) ? head.subarray(3) : head;
  // The header may end inside a multi-byte character: drop the last (possibly partial) sequence.
  let cut = body.length;
  while (cut > 0 && body.length - cut < 3 && ((body[cut - 1] ?? 0) & 0xc0) === 0x80) cut--;
  if (cut > 0 && ((body[cut - 1] ?? 0) & 0xc0) === 0xc0) body = body.subarray(0, cut - 1);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return undefined;
  }
  // NUL and C0 controls other than \t \n \v \f \r ESC mean binary.
  if (/[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]/.test(text)) return undefined;
  const lead = text.trimStart().slice(0, 512).toLowerCase();
  if (lead.startsWith('<?xml')) return /<svg[\s>]/.test(text.toLowerCase()) ? 'image/svg+xml' : 'application/xml';
  if (lead.startsWith('<svg') || lead.startsWith('<!doctype svg')) return 'image/svg+xml';
  if (/^<(!doctype html|html|head|body|script|iframe)[\s>]/.test(lead)) return 'text/html';
  return 'text/plain';
}
