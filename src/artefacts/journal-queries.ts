import type { Knex } from 'knex';
import { FILE_ARTEFACT_TYPES } from './file-queries.js';

/**
 * Read-only look-ups of a user's journals (artefacttype 'blog'), their posts ('blogpost', `published`
 * false for a draft), tags, attachments and comments, for the student's pages. Every query is restricted
 * to one owner. Bodies are returned as stored: the page sanitises them again on output.
 */
export interface Journal {
  readonly id: number;
  readonly title: string;
  readonly description: string;
  readonly posts: number;
  readonly drafts: number;
}

export interface AttachedFile {
  readonly id: number;
  readonly title: string;
  readonly mime: string;
  readonly size: number;
}

export interface Comment {
  readonly id: number;
  readonly title: string;
  readonly body: string;
  readonly authorName: string | null;
  readonly private: boolean;
  readonly ctime: Date;
}

export interface Post {
  readonly id: number;
  readonly title: string;
  readonly body: string;
  readonly published: boolean;
  readonly ctime: Date;
  readonly tags: readonly string[];
  readonly attachments: readonly AttachedFile[];
  readonly comments: readonly Comment[];
}

/** What a comment that is not on a journal post reflects on, to show it where the student can find it. */
export type CommentTarget =
  | { readonly kind: 'file'; readonly id: number; readonly title: string; readonly folder: number | null }
  | { readonly kind: 'folder' | 'journal' | 'page' | 'other'; readonly id: number; readonly title: string }
  | { readonly kind: 'none' };

export interface OtherComment extends Comment {
  readonly target: CommentTarget;
}

interface CommentRow {
  id: number;
  title: string;
  description: string;
  author_name: string | null;
  private: boolean;
  ctime: Date;
}

const toComment = (r: CommentRow): Comment => ({
  id: r.id,
  title: r.title,
  body: r.description,
  authorName: r.author_name,
  private: r.private,
  ctime: new Date(r.ctime),
});

export async function listOwnJournals(db: Knex, owner: number): Promise<Journal[]> {
  return journals(db, owner);
}

export async function findOwnJournal(db: Knex, owner: number, id: number): Promise<Journal | undefined> {
  return (await journals(db, owner, id))[0];
}

async function journals(db: Knex, owner: number, id?: number): Promise<Journal[]> {
  const query = db('artefacts as j')
    .leftJoin('artefacts as p', function () {
      this.on('p.parent', 'j.id').andOn('p.owner', 'j.owner').andOnVal('p.artefacttype', 'blogpost');
    })
    .where({ 'j.owner': owner, 'j.artefacttype': 'blog' })
    .groupBy('j.id', 'j.title', 'j.description')
    .orderBy([{ column: 'j.title' }, { column: 'j.id' }])
    .select('j.id', 'j.title', 'j.description', db.raw('count(p.id) as posts'), db.raw('count(p.id) filter (where not p.published) as drafts'));
  if (id !== undefined) query.where('j.id', id);
  const rows = (await query) as Array<{ id: number; title: string; description: string; posts: string | number; drafts: string | number }>;
  return rows.map((r) => ({ id: r.id, title: r.title, description: r.description, posts: Number(r.posts), drafts: Number(r.drafts) }));
}

/** A journal's posts, newest first, each with its tags, attached files and comments. */
export async function listPosts(db: Knex, owner: number, journalId: number): Promise<Post[]> {
  const rows = (await db('artefacts')
    .where({ owner, parent: journalId, artefacttype: 'blogpost' })
    .orderBy([
      { column: 'ctime', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .select('id', 'title', 'description', 'published', 'ctime')) as Array<{
    id: number;
    title: string;
    description: string;
    published: boolean;
    ctime: Date;
  }>;
  const ids = rows.map((r) => r.id);
  const [tags, attachments, comments] = await Promise.all([tagsOf(db, ids), attachmentsOf(db, owner, ids), commentsOn(db, owner, ids)]);
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    body: r.description,
    published: r.published,
    ctime: new Date(r.ctime),
    tags: tags.get(r.id) ?? [],
    attachments: attachments.get(r.id) ?? [],
    comments: comments.get(r.id) ?? [],
  }));
}

function groupBy<T>(rows: readonly T[], key: (row: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const row of rows) groups.set(key(row), [...(groups.get(key(row)) ?? []), row]);
  return groups;
}

async function tagsOf(db: Knex, ids: readonly number[]): Promise<Map<number, string[]>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('artefact_tags').whereIn('artefact', ids).orderBy('tag').select('artefact', 'tag')) as Array<{ artefact: number; tag: string }>;
  return new Map([...groupBy(rows, (r) => r.artefact)].map(([id, group]) => [id, group.map((r) => r.tag)]));
}

async function attachmentsOf(db: Knex, owner: number, ids: readonly number[]): Promise<Map<number, AttachedFile[]>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('artefact_attachments as x')
    .join('artefacts as a', 'a.id', 'x.attachment')
    .join('artefact_files as f', 'f.artefact', 'a.id')
    .whereIn('x.artefact', ids)
    .where('a.owner', owner)
    .whereIn('a.artefacttype', FILE_ARTEFACT_TYPES)
    .orderBy([{ column: 'a.title' }, { column: 'a.id' }])
    .select('x.artefact as post', 'a.id', 'a.title', 'f.mime', 'f.size')) as Array<{ post: number; id: number; title: string; mime: string; size: string | number }>;
  return new Map(
    [...groupBy(rows, (r) => r.post)].map(([post, group]) => [post, group.map((r) => ({ id: r.id, title: r.title, mime: r.mime, size: Number(r.size) }))]),
  );
}

async function commentsOn(db: Knex, owner: number, ids: readonly number[]): Promise<Map<number, Comment[]>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('artefacts')
    .where({ owner, artefacttype: 'comment' })
    .whereIn('on_artefact', ids)
    .orderBy([{ column: 'ctime' }, { column: 'id' }])
    .select('id', 'title', 'description', 'author_name', 'private', 'ctime', 'on_artefact')) as Array<CommentRow & { on_artefact: number }>;
  return new Map([...groupBy(rows, (r) => r.on_artefact)].map(([post, group]) => [post, group.map(toComment)]));
}

/** The owner's comments that are not on a journal post (on files, folders, pages, …), oldest first. */
export async function listOtherComments(db: Knex, owner: number): Promise<OtherComment[]> {
  const rows = (await db('artefacts as c')
    .leftJoin('artefacts as t', function () {
      this.on('t.id', 'c.on_artefact').andOn('t.owner', 'c.owner');
    })
    .leftJoin('views as v', function () {
      this.on('v.id', 'c.on_view').andOn('v.owner', 'c.owner');
    })
    .where({ 'c.owner': owner, 'c.artefacttype': 'comment' })
    .andWhere((q) => q.whereNull('t.artefacttype').orWhereNot('t.artefacttype', 'blogpost'))
    .orderBy([{ column: 'c.ctime' }, { column: 'c.id' }])
    .select(
      'c.id',
      'c.title',
      'c.description',
      'c.author_name',
      'c.private',
      'c.ctime',
      't.id as target_id',
      't.artefacttype as target_type',
      't.title as target_title',
      't.parent as target_parent',
      'v.id as view_id',
      'v.title as view_title',
    )) as Array<CommentRow & TargetColumns>;
  return rows.map((r) => ({ ...toComment(r), target: targetOf(r) }));
}

/** What a comment is on, as the comment query joins it. */
interface TargetColumns {
  target_id: number | null;
  target_type: string | null;
  target_title: string | null;
  target_parent: number | null;
  view_id: number | null;
  view_title: string | null;
}

function targetOf(r: TargetColumns): CommentTarget {
  if (r.target_id !== null && r.target_type !== null) {
    const title = r.target_title ?? '';
    if ((FILE_ARTEFACT_TYPES as readonly string[]).includes(r.target_type)) return { kind: 'file', id: r.target_id, title, folder: r.target_parent };
    const kind = r.target_type === 'folder' ? 'folder' : r.target_type === 'blog' ? 'journal' : 'other';
    return { kind, id: r.target_id, title };
  }
  if (r.view_id !== null) return { kind: 'page', id: r.view_id, title: r.view_title ?? '' };
  return { kind: 'none' };
}
