/**
 * Where the student's pages live. The first two are Mahara's paths and must not move: Moodle's continue
 * URL opens the file browser (portfolio-import.md §5.5) and imported post bodies link to downloads (§6.8).
 */
export const FILES_PATH = '/artefact/file/';
export const DOWNLOAD_PATH = '/artefact/file/download.php';
export const JOURNALS_PATH = '/journal/';
export const IMPORTS_PATH = '/imports/';

export function journalPath(id: number): string {
  return `${JOURNALS_PATH}${id}`;
}
