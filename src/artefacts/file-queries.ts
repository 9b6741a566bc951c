import type { Knex } from 'knex';
import type { FileArtefactType } from './file-type.js';

/**
 * Read-only look-ups of a user's folders and files for the student's pages. Every query is restricted to
 * one owner: an id of someone else's artefact finds nothing, exactly like an id that does not exist.
 */
export const FILE_ARTEFACT_TYPES: readonly FileArtefactType[] = ['file', 'image', 'audio', 'video', 'archive'];

export interface Folder {
  readonly id: number;
  readonly title: string;
  readonly description: string;
  readonly parent: number | null;
}

export interface FolderEntry {
  readonly id: number;
  readonly kind: 'folder' | 'file';
  readonly title: string;
  readonly ctime: Date;
  /** Files only. */
  readonly mime: string | null;
  readonly size: number | null;
  /** Folders only: how many folders and files it holds. */
  readonly items: number | null;
}

export interface StoredFile {
  readonly id: number;
  readonly title: string;
  readonly parent: number | null;
  readonly mime: string;
  readonly size: number;
  readonly contentHash: string;
  readonly originalExtension: string;
  readonly ctime: Date;
}

/** Breadcrumbs stop after this many folders above the one shown (LEAP folders may nest thousands deep). */
export const MAX_BREADCRUMB = 30;

export async function findOwnFolder(db: Knex, owner: number, id: number): Promise<Folder | undefined> {
  const row = (await db('artefacts').where({ id, owner, artefacttype: 'folder' }).first('id', 'title', 'description', 'parent')) as
    | { id: number; title: string; description: string; parent: number | null }
    | undefined;
  return row && { id: row.id, title: row.title, description: row.description, parent: row.parent };
}

/**
 * The folders from the top level down to `folderId` (included), at most MAX_BREADCRUMB + 1 of them; the
 * flag says whether folders nearer the top were left out. One recursive query, whatever the depth.
 */
export async function folderPath(db: Knex, owner: number, folderId: number): Promise<{ folders: Array<{ id: number; title: string }>; truncated: boolean }> {
  const result = await db.raw(
    `with recursive up(id, title, parent, depth) as (
       select id, title, parent, 0 from artefacts where id = ? and owner = ? and artefacttype = 'folder'
       union all
       select a.id, a.title, a.parent, up.depth + 1 from artefacts a join up on a.id = up.parent
        where a.owner = ? and a.artefacttype = 'folder' and up.depth <= ?
     )
     select id, title, depth from up order by depth desc`,
    [folderId, owner, owner, MAX_BREADCRUMB],
  );
  const rows = (result.rows as Array<{ id: number; title: string; depth: number }>).map((r) => ({ id: r.id, title: r.title, depth: Number(r.depth) }));
  const truncated = rows.length > MAX_BREADCRUMB + 1;
  return { folders: rows.filter((r) => r.depth <= MAX_BREADCRUMB).map(({ id, title }) => ({ id, title })), truncated };
}

/** A folder's contents (or the top level for null): folders first, then files, each by title. */
export async function listFolder(db: Knex, owner: number, folderId: number | null): Promise<FolderEntry[]> {
  const query = db('artefacts as a')
    .leftJoin('artefact_files as f', 'f.artefact', 'a.id')
    .where('a.owner', owner)
    .whereIn('a.artefacttype', ['folder', ...FILE_ARTEFACT_TYPES])
    .select(
      'a.id',
      'a.artefacttype',
      'a.title',
      'a.ctime',
      'f.mime',
      'f.size',
      db('artefacts as c')
        .count('*')
        .whereRaw('c.parent = a.id')
        .andWhereRaw('c.owner = a.owner')
        .whereIn('c.artefacttype', ['folder', ...FILE_ARTEFACT_TYPES])
        .as('items'),
    )
    .orderByRaw(`case when a.artefacttype = 'folder' then 0 else 1 end`)
    .orderBy([{ column: 'a.title' }, { column: 'a.id' }]);
  if (folderId === null) query.whereNull('a.parent');
  else query.where('a.parent', folderId);
  const rows = (await query) as Array<{ id: number; artefacttype: string; title: string; ctime: Date; mime: string | null; size: string | number | null; items: string | number }>;
  return rows.map((r) => {
    const isFolder = r.artefacttype === 'folder';
    return {
      id: r.id,
      kind: isFolder ? 'folder' : 'file',
      title: r.title,
      ctime: new Date(r.ctime),
      mime: isFolder ? null : r.mime,
      size: isFolder || r.size === null ? null : Number(r.size),
      items: isFolder ? Number(r.items) : null,
    };
  });
}

/** One of the owner's files with where its content is stored; undefined for anything else. */
export async function findOwnFile(db: Knex, owner: number, id: number): Promise<StoredFile | undefined> {
  const row = (await db('artefacts as a')
    .join('artefact_files as f', 'f.artefact', 'a.id')
    .where({ 'a.id': id, 'a.owner': owner })
    .whereIn('a.artefacttype', FILE_ARTEFACT_TYPES)
    .first('a.id', 'a.title', 'a.parent', 'a.ctime', 'f.mime', 'f.size', 'f.content_hash', 'f.original_extension')) as
    | { id: number; title: string; parent: number | null; ctime: Date; mime: string; size: string | number; content_hash: string; original_extension: string }
    | undefined;
  if (!row) return undefined;
  return {
    id: row.id,
    title: row.title,
    parent: row.parent,
    mime: row.mime,
    size: Number(row.size),
    contentHash: row.content_hash,
    originalExtension: row.original_extension,
    ctime: new Date(row.ctime),
  };
}

export interface PortfolioCounts {
  readonly files: number;
  readonly folders: number;
  readonly journals: number;
  readonly posts: number;
  readonly comments: number;
}

/** What the home page counts, in one query. */
export async function countOwnArtefacts(db: Knex, owner: number): Promise<PortfolioCounts> {
  const rows = (await db('artefacts').where({ owner }).groupBy('artefacttype').select('artefacttype', db.raw('count(*) as n'))) as Array<{
    artefacttype: string;
    n: string | number;
  }>;
  const count = (types: readonly string[]) => rows.filter((r) => types.includes(r.artefacttype)).reduce((sum, r) => sum + Number(r.n), 0);
  return {
    files: count(FILE_ARTEFACT_TYPES),
    folders: count(['folder']),
    journals: count(['blog']),
    posts: count(['blogpost']),
    comments: count(['comment']),
  };
}
