import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import yauzl from 'yauzl';
import type { XmlRpcStruct } from '../../src/mnet/codec.js';
import { FakeFault, type FakePeer } from './fake-peer.js';

/**
 * Moodle's side of a portfolio export, for tests: the packages waiting for fetch_file, keyed by token.
 * Like Moodle (portfolio-import.md §1.4), a successful fetch deletes the export, so a second fetch with
 * the same token faults 8009.
 */
export class MoodleExports {
  /** Tokens fetch_file was called with, in order. */
  readonly fetches: string[] = [];
  private readonly packages = new Map<string, Buffer>();

  constructor(fake: FakePeer) {
    fake.handlers.set('portfolio/mahara/lib.php/fetch_file', (params) => {
      const token = String(params[0]);
      this.fetches.push(token);
      const zip = this.packages.get(token);
      if (!zip) throw new FakeFault(8009, 'Could not find token');
      this.packages.delete(token);
      return zip.toString('base64');
    });
  }

  offer(token: string, zip: Buffer): void {
    this.packages.set(token, zip);
  }

  has(token: string): boolean {
    return this.packages.has(token);
  }
}

export function fixtureZip(name: string): Buffer {
  return fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'leap2a', 'moodle', name));
}

/** The importdata struct Moodle sends with send_content_ready for `zip` (§1.3): one manifest item per distinct content. */
export async function importDataFor(zip: Buffer): Promise<XmlRpcStruct> {
  const manifest: XmlRpcStruct = {};
  let totalsize = 0;
  for (const entry of await readZipEntries(zip)) {
    const sha1 = crypto.createHash('sha1').update(entry.data).digest('hex');
    manifest[sha1] = { filename: path.posix.basename(entry.name), sha1, size: entry.data.length };
    totalsize += entry.data.length;
  }
  return {
    filesmanifest: manifest,
    zipfilesha1: crypto.createHash('sha1').update(zip).digest('hex'),
    zipfilesize: zip.length,
    totalsize,
  };
}

export function readZipEntries(zip: Buffer): Promise<Array<{ name: string; data: Buffer }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err);
      const entries: Array<{ name: string; data: Buffer }> = [];
      file.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return file.readEntry();
        file.openReadStream(entry, (streamErr, stream) => {
          if (streamErr || !stream) return reject(streamErr);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            entries.push({ name: entry.fileName, data: Buffer.concat(chunks) });
            file.readEntry();
          });
          stream.on('error', reject);
        });
      });
      file.on('end', () => resolve(entries));
      file.on('error', reject);
      file.readEntry();
    });
  });
}
