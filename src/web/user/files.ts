import type Router from '@koa/router';
import type Koa from 'koa';
import { findOwnFile, findOwnFolder, folderPath, listFolder, type Folder, type FolderEntry } from '../../artefacts/file-queries.js';
import type { Config } from '../../config.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html, type SafeHtml } from '../html.js';
import { href, renderPage, viewerOf } from '../page.js';
import { mountDownload } from './download.js';
import { formatBytes } from '../../format-bytes.js';
import { formatDate, plural } from '../format.js';
import { notFound, parseId } from './ids.js';
import { DOWNLOAD_PATH, FILES_PATH } from './paths.js';

/**
 * The file browser. Moodle's continue URL after an export opens `/artefact/file/?folder=<id>&file=<id>&`
 * (portfolio-import.md §5.5): that folder, with the file just imported highlighted (`file=0`: none).
 */
export function mountFiles(router: Router, services: Services, guards: Guards): void {
  const { config, db } = services;

  router.get(FILES_PATH, guards.user, async (ctx) => {
    const owner = viewerOf(ctx).user.id;
    const folder = await requestedFolder(ctx, services, owner);
    const highlight = await highlightedFile(ctx, services, owner);
    const entries = await listFolder(db, owner, folder?.id ?? null);
    const crumbs = folder ? await breadcrumb(services, owner, folder) : html``;
    const justImported = entries.find((e) => e.kind === 'file' && e.id === highlight);
    renderPage(ctx, config, {
      title: folder ? folder.title : 'My files',
      body: html`${crumbs}
${folder && folder.description !== '' ? html`<p class="muted">${folder.description}</p>` : ''}
${justImported ? html`<p class="flash" role="status">Just imported: ${justImported.title}. It is highlighted below.</p>` : ''}
${entries.length === 0 ? html`<p>${folder ? 'This folder is empty.' : 'You have no files yet. Files you export from Moodle appear here.'}</p>` : contentsTable(config, folder, entries, highlight)}`,
    });
  });

  mountDownload(router, services, guards);
}

/** The `folder` parameter: absent or 0 is the top level; any other id must be one of the viewer's folders. */
async function requestedFolder(ctx: Koa.Context, services: Services, owner: number): Promise<Folder | undefined> {
  if (ctx.query.folder === undefined || ctx.query.folder === '0') return undefined;
  const id = parseId(ctx.query.folder, 'folder');
  const folder = await findOwnFolder(services.db, owner, id);
  if (!folder) throw notFound('folder');
  return folder;
}

/** The `file` parameter: 0 or absent means none; any other id must be one of the viewer's files. */
async function highlightedFile(ctx: Koa.Context, services: Services, owner: number): Promise<number | undefined> {
  if (ctx.query.file === undefined || ctx.query.file === '0') return undefined;
  const id = parseId(ctx.query.file, 'file');
  if (!(await findOwnFile(services.db, owner, id))) throw notFound('file');
  return id;
}

async function breadcrumb(services: Services, owner: number, folder: Folder): Promise<SafeHtml> {
  const { config } = services;
  const { folders, truncated } = await folderPath(services.db, owner, folder.id);
  const above = folders.filter((f) => f.id !== folder.id);
  return html`<nav aria-label="Breadcrumb"><ul>
<li><a href="${href(config, FILES_PATH)}">My files</a> /</li>
${truncated ? html`<li>… /</li>` : ''}
${above.map((f) => html`<li><a href="${href(config, FILES_PATH, { folder: f.id })}">${f.title}</a> /</li>`)}
<li><a href="${href(config, FILES_PATH, { folder: folder.id })}" aria-current="page">${folder.title}</a></li>
</ul></nav>`;
}

function contentsTable(config: Config, folder: Folder | undefined, entries: readonly FolderEntry[], highlight: number | undefined): SafeHtml {
  const rows = entries.map((e) => (e.kind === 'folder' ? folderRow(config, e) : fileRow(config, e, e.id === highlight)));
  return html`<div class="table-wrap"><table>
<caption>${folder ? html`Contents of ${folder.title}` : 'Your folders and files'}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Date</th><th scope="col">Download</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`;
}

function folderRow(config: Config, e: FolderEntry): SafeHtml {
  return html`<tr><td><a href="${href(config, FILES_PATH, { folder: e.id })}">${e.title}</a></td><td>Folder</td><td>${plural(e.items ?? 0, 'item', 'items')}</td><td>${formatDate(e.ctime)}</td><td></td></tr>
`;
}

function fileRow(config: Config, e: FolderEntry, highlighted: boolean): SafeHtml {
  const name = highlighted ? html`${e.title} <strong>(Just imported)</strong>` : html`${e.title}`;
  return html`<tr${highlighted ? html` class="highlight" aria-current="true"` : ''}><td>${name}</td><td>${e.mime ?? ''}</td><td>${e.size === null ? '' : formatBytes(e.size)}</td><td>${formatDate(e.ctime)}</td><td><a href="${href(config, DOWNLOAD_PATH, { file: e.id })}" aria-label="Download ${e.title}">Download</a></td></tr>
`;
}
