import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type Router from '@koa/router';
import { findOwnFile, type StoredFile } from '../../artefacts/file-queries.js';
import { FaultCode, MnetFault } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { viewerOf } from '../page.js';
import { notFound, parseId } from './ids.js';
import { DOWNLOAD_PATH } from './paths.js';

/**
 * Raster images a browser shows without running anything: served inline so `<img src=…download.php…>` in an
 * imported post works. SVG is not among them: it can carry script.
 */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export function mountDownload(router: Router, services: Services, guards: Guards): void {
  const { db, log } = services;
  const blobs = services.imports.blobs;

  router.get(DOWNLOAD_PATH, guards.user, async (ctx) => {
    const owner = viewerOf(ctx).user.id;
    const file = await findOwnFile(db, owner, parseId(ctx.query.file, 'file'));
    if (!file) throw notFound('file');
    const path = blobs.pathOf(file.contentHash);
    const stat = await fs.stat(path).catch((err: unknown) => ({ error: err }));
    if ('error' in stat || !stat.isFile()) {
      // The row says the content exists: a missing blob is damage to the store, for an admin to see.
      log.error('file content missing from the blob store', { file: file.id, hash: file.contentHash, error: 'error' in stat ? stat.error : 'not a file' });
      throw new MnetFault(FaultCode.NotFound, 'The content of this file is missing. Please tell an administrator.');
    }
    // Headers first: with Content-Type already set, koa keeps it when the body becomes a stream.
    ctx.set('Content-Type', file.mime);
    ctx.set('Content-Disposition', `${INLINE_TYPES.has(file.mime) ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeRfc5987(downloadName(file))}`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    // A student's HTML or SVG opened from here must not run script on our origin (sandbox: an opaque origin).
    ctx.set('Content-Security-Policy', "sandbox; default-src 'none'");
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = createReadStream(path);
    ctx.length = stat.size;
  });
}

/** Mahara's download_title(): the title, with the original extension added when the title lacks it. */
function downloadName(file: StoredFile): string {
  const ext = file.originalExtension;
  if (ext === '' || ext === file.title || file.title.toLowerCase().endsWith(`.${ext.toLowerCase()}`)) return file.title;
  return `${file.title}.${ext}`;
}

/** RFC 5987 ext-value: UTF-8, percent-encoded outside attr-char (encodeURIComponent leaves `'()*`, which are not). */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
