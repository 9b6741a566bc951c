import fs from 'node:fs/promises';
import { FaultCode, MnetFault } from '../errors.js';
import { detectFileType, extensionOf, isAllowedType, type FileArtefactType } from './file-type.js';
import type { ImportContext } from './plugin.js';

/** The artefacts rows an import writes, always through the import's transaction (src/artefacts/plugin.ts). */
export interface NewArtefact {
  artefacttype: string;
  title: string;
  description?: string;
  parent?: number | null;
  published?: boolean;
  authorName?: string | null;
  private?: boolean;
  extra?: Record<string, unknown> | null;
  onArtefact?: number | null;
  onView?: number | null;
  ctime?: Date;
  mtime?: Date;
}

export async function createArtefact(ctx: ImportContext, a: NewArtefact): Promise<number> {
  const [row] = await ctx.trx('artefacts')
    .insert({
      owner: ctx.user.id,
      artefacttype: a.artefacttype,
      parent: a.parent ?? null,
      title: a.title,
      description: a.description ?? '',
      published: a.published ?? true,
      author_name: a.authorName ?? null,
      private: a.private ?? false,
      extra: a.extra ? JSON.stringify(a.extra) : null,
      on_artefact: a.onArtefact ?? null,
      on_view: a.onView ?? null,
      ctime: a.ctime ?? ctx.now,
      mtime: a.mtime ?? a.ctime ?? ctx.now,
      import_id: ctx.importId,
    })
    .returning('id');
  return (row as { id: number }).id;
}

export interface NewFileArtefact {
  /** The file on disk (an extracted package entry). */
  source: string;
  /** The name it had at the sender: gives the extension and, by default, the title. */
  filename: string;
  title?: string;
  description?: string;
  parent?: number | null;
  /** A MIME type the package declares (LEAP `link/@type`); sniffing and the extension come first. */
  declaredMime?: string;
  /** The content's sha256 when already known, so the file is not read again to store it. */
  sha256?: string;
}

export interface CreatedFile {
  readonly id: number;
  readonly artefactType: FileArtefactType;
  readonly size: number;
}

/**
 * Saves one file artefact (§5.4): type detected from the bytes and the extension, refused when the site's
 * allowed types say no, charged to the user's quota inside the transaction, content in the blob store.
 * Refusals are MnetFaults (FileTypeNotAllowed, QuotaExceeded) so callers can skip or fail as their format says.
 */
export async function createFileArtefact(ctx: ImportContext, f: NewFileArtefact): Promise<CreatedFile> {
  const detected = await detectFileType(f.source, f.filename, f.declaredMime);
  if (!isAllowedType(f.filename, detected, ctx.allowedExtensions)) {
    throw new MnetFault(FaultCode.FileTypeNotAllowed, `The file type of ${f.filename} is not allowed`);
  }
  // Charged before the blob is stored: a file refused for quota leaves no blob behind when a LEAP import
  // skips it and goes on (§6.9).
  const { size } = await fs.stat(f.source);
  const charged = await ctx.trx('users')
    .where({ id: ctx.user.id })
    .andWhereRaw('quota_used + ? <= quota', [size])
    .increment('quota_used', size);
  if (charged === 0) throw new MnetFault(FaultCode.QuotaExceeded, `Saving ${f.filename} would exceed the user's quota`);
  const blob = await ctx.blobs.put(ctx.trx, ctx.blobSession, f.source, f.sha256 === undefined ? undefined : { hash: f.sha256, size });
  const id = await createArtefact(ctx, {
    artefacttype: detected.artefactType,
    title: f.title ?? f.filename,
    description: f.description ?? '',
    parent: f.parent ?? null,
  });
  await ctx.trx('artefact_files').insert({
    artefact: id,
    content_hash: blob.hash,
    size: blob.size,
    mime: detected.mime,
    original_extension: extensionOf(f.filename),
    width: detected.width ?? null,
    height: detected.height ?? null,
  });
  return { id, artefactType: detected.artefactType, size: blob.size };
}

/** The user's top-level folder titled exactly `title`, created with `description` if there is none (§5.3). */
export async function findOrCreateTopFolder(ctx: ImportContext, title: string, description: string): Promise<number> {
  const existing = await ctx.trx('artefacts')
    .where({ owner: ctx.user.id, artefacttype: 'folder', title })
    .whereNull('parent')
    .orderBy('id')
    .first('id');
  if (existing) return (existing as { id: number }).id;
  return createArtefact(ctx, { artefacttype: 'folder', title, description });
}

export async function attachFile(ctx: ImportContext, artefact: number, attachment: number): Promise<void> {
  await ctx.trx('artefact_attachments').insert({ artefact, attachment }).onConflict(['artefact', 'attachment']).ignore();
}

export async function addTags(ctx: ImportContext, artefact: number, tags: readonly string[]): Promise<void> {
  const unique = [...new Set(tags.map((t) => t.trim()).filter((t) => t !== ''))];
  if (unique.length === 0) return;
  await ctx.trx('artefact_tags')
    .insert(unique.map((tag) => ({ artefact, tag })))
    .onConflict(['artefact', 'tag'])
    .ignore();
}
