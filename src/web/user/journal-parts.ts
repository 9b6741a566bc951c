import type { AttachedFile, Comment, OtherComment, Post } from '../../artefacts/journal-queries.js';
import { sanitiseHtml } from '../../artefacts/html/sanitise.js';
import type { Config } from '../../config.js';
import { html, trustedHtml, type SafeHtml } from '../html.js';
import { href } from '../page.js';
import { formatBytes } from '../../format-bytes.js';
import { formatDate } from '../format.js';
import { DOWNLOAD_PATH, FILES_PATH, journalPath } from './paths.js';

/**
 * Pieces of the journal pages. Stored HTML (post bodies, comments, journal descriptions) is sanitised
 * again here although the import sanitised it: rows may predate a policy change or come from elsewhere,
 * and the page must be safe whatever the database holds (defence in depth).
 */
export function storedHtml(markup: string): SafeHtml {
  return trustedHtml(sanitiseHtml(markup));
}

export function renderPost(config: Config, post: Post): SafeHtml {
  return html`<article class="post" aria-labelledby="post-${post.id}">
<h2 id="post-${post.id}">${post.title === '' ? '(untitled)' : post.title}</h2>
<p class="muted">${post.published ? 'Posted' : html`<strong>Draft</strong> (not published), written`} ${formatDate(post.ctime)}</p>
<div>${storedHtml(post.body)}</div>
${post.tags.length > 0 ? html`<p>Tags: ${post.tags.join(', ')}</p>` : ''}
${post.attachments.length > 0 ? attachmentList(config, post.attachments) : ''}
${post.comments.length > 0 ? commentList(post.comments) : ''}
</article>`;
}

function attachmentList(config: Config, files: readonly AttachedFile[]): SafeHtml {
  return html`<h3>Attachments</h3>
<ul>${files.map((f) => html`<li><a href="${href(config, DOWNLOAD_PATH, { file: f.id })}">${f.title}</a> <span class="muted">(${f.mime}, ${formatBytes(f.size)})</span></li>`)}</ul>`;
}

function commentList(comments: readonly Comment[]): SafeHtml {
  return html`<h3>Comments (${comments.length})</h3>
<ul>${comments.map((c) => html`<li>${commentBody(c)}</li>`)}</ul>`;
}

function commentBody(c: Comment): SafeHtml {
  return html`<p><strong>${c.authorName ?? 'Unknown author'}</strong>, ${formatDate(c.ctime)}${c.private ? html` <strong>(private: only you see it)</strong>` : ''}${
    c.title !== '' ? html`: ${c.title}` : ''
  }</p>
<div>${storedHtml(c.body)}</div>`;
}

/** Comments on files, folders and pages: listed on the journals page, so every imported comment is visible. */
export function otherCommentsSection(config: Config, comments: readonly OtherComment[]): SafeHtml {
  if (comments.length === 0) return html``;
  return html`<h2>Comments on your files and pages</h2>
<ul>${comments.map((c) => html`<li><p>On ${targetLink(config, c)}:</p>${commentBody(c)}</li>`)}</ul>`;
}

function targetLink(config: Config, c: OtherComment): SafeHtml {
  const t = c.target;
  if (t.kind === 'none') return html`nothing that was imported`;
  const title = t.title === '' ? '(untitled)' : t.title;
  switch (t.kind) {
    case 'file':
      return html`the file <a href="${href(config, FILES_PATH, { folder: t.folder ?? undefined, file: t.id })}">${title}</a>`;
    case 'folder':
      return html`the folder <a href="${href(config, FILES_PATH, { folder: t.id })}">${title}</a>`;
    case 'journal':
      return html`the journal <a href="${href(config, journalPath(t.id))}">${title}</a>`;
    case 'page':
      return html`the page ${title}`;
    case 'other':
      return html`${title}`;
  }
}
