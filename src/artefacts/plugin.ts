import type { Knex } from 'knex';
import type { User } from '../identity/users.js';
import type { BlobSession, BlobStore } from './blob-store.js';

/**
 * What artefact plugins see of an import (style.md "Plugin interface"): the user, one transaction for
 * every database write, the blob store, and a trace log. Nothing about MNet, HTTP or the queue.
 */
export interface ImportContext {
  readonly trx: Knex.Transaction;
  readonly user: User;
  /** The queue item being imported (recorded on every artefact it creates); null outside the queue. */
  readonly importId: number | null;
  /** The sending peer's display name, for file descriptions (§5.4); null for a local upload. */
  readonly peerName: string | null;
  readonly now: Date;
  readonly blobs: BlobStore;
  readonly blobSession: BlobSession;
  /** Path of our wwwroot with a trailing slash, for links written into imported content (§6.8). */
  readonly sitePath: string;
  /** Extensions a file may have (lower case); empty means every extension is allowed (§5.4). */
  readonly allowedExtensions: readonly string[];
  readonly trace: ImportTrace;
}

/**
 * The import's own log (§6.10): `loglevel` 1 shows the phases and warnings, 2 every strategy offered.
 * Warnings also count entries skipped on purpose ("skip and warn", §6.9) for the audit.
 */
export interface ImportTrace {
  info(message: string): void;
  verbose(message: string): void;
  /** A skipped entry or attachment: the import goes on. */
  warn(message: string): void;
  readonly warnings: readonly string[];
}

/** `format/component` pairs a plugin imports (design note): `file/file`, `LEAP/entry`, `LEAP/selection`, … */
export type FormatId = `${'file' | 'LEAP'}/${string}`;

export interface ImportDeclaration {
  readonly format: FormatId;
  /** The default score; admins may override it per plugin and format (`import_plugin_priorities`). */
  readonly priority: number;
}

export interface ArtefactPlugin {
  /** Mahara's plugin name: 'file', 'blog', 'comment', … */
  readonly name: string;
  readonly imports: readonly ImportDeclaration[];
}

/** One file of a `file` package (§5): where it was extracted, and the name the manifest gives it. */
export interface PackageFile {
  readonly path: string;
  readonly filename: string;
  readonly sha1: string;
  /** Known from extraction; the blob store's key. */
  readonly sha256: string;
  readonly size: number;
}

/** What a package importer hands back to the peer: Mahara's "return data", rendered as the querystring. */
export type ReturnData = ReadonlyArray<readonly [string, string | number]>;

export interface ImportOutcome {
  readonly artefactIds: readonly number[];
  readonly returnData: ReturnData;
}

/** A plugin that takes whole `file` packages (`file/file`, §5). */
export interface FilePackagePlugin extends ArtefactPlugin {
  importFiles(files: readonly PackageFile[], ctx: ImportContext): Promise<ImportOutcome>;
}
