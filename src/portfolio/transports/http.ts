import crypto from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MnetFault } from '../../errors.js';
import { importError } from '../import-data.js';
import type { FetchTarget, FetchedFile } from './fetch-target.js';

const MAX_REDIRECTS = 3;
const CONNECT_TIMEOUT_MS = 10_000;
const TOTAL_TIMEOUT_MS = 60_000;

/**
 * The design note's transport (portfolio-import.md §3.2): GET the location the peer gave, with `id` and
 * `token` added, and stream the raw zip to disk. Only the peer's own host is ever contacted (no SSRF): the
 * location and every redirect must stay on the wwwroot's host, over https unless the wwwroot is http.
 */
export async function fetchOverHttp(
  request: { location: string; peerWwwroot: string; id: number; token: string; expectedBytes: number },
  target: FetchTarget,
): Promise<FetchedFile> {
  const peer = new URL(request.peerWwwroot);
  let url = checkedUrl(request.location, peer);
  url.searchParams.set('id', String(request.id));
  url.searchParams.set('token', request.token);
  const deadline = Date.now() + TOTAL_TIMEOUT_MS;
  for (let redirects = 0; ; redirects++) {
    const response = await get(url, deadline);
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (redirects === MAX_REDIRECTS) throw fetchError('HTTP too many redirects');
      url = checkedUrl(new URL(response.headers.location, url).toString(), peer);
      continue;
    }
    if (status !== 200) {
      response.resume();
      throw fetchError(`HTTP ${status}`);
    }
    const declared = response.headers['content-length'];
    if (declared !== undefined && Number(declared) !== request.expectedBytes) {
      response.resume();
      throw fetchError(`HTTP Content-Length ${declared} is not the announced ${request.expectedBytes} bytes`);
    }
    return saveBody(response, Math.min(request.expectedBytes, target.maxBytes), target, deadline);
  }
}

function checkedUrl(location: string, peer: URL): URL {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw fetchError(`HTTP location ${location} is not an absolute URL`);
  }
  const schemeAllowed = url.protocol === 'https:' || (url.protocol === 'http:' && peer.protocol === 'http:');
  if (!schemeAllowed || url.host !== peer.host || url.username || url.password) {
    throw fetchError(`HTTP location ${url.origin} is not on the peer ${peer.origin}`);
  }
  return url;
}

function get(url: URL, deadline: number): Promise<http.IncomingMessage> {
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { 'User-Agent': 'Mahara' }, timeout: CONNECT_TIMEOUT_MS }, resolve);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(fetchError(`HTTP ${err.message}`, err)));
    const timer = setTimeout(() => req.destroy(new Error('timed out')), Math.max(deadline - Date.now(), 0));
    req.on('close', () => clearTimeout(timer));
    req.end();
  });
}

async function saveBody(body: http.IncomingMessage, limit: number, target: FetchTarget, deadline: number): Promise<FetchedFile> {
  const digest = crypto.createHash('sha1');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      // One byte past the limit is enough to know the body is too long (§3.2).
      if (bytes > limit) return done(fetchError('HTTP body longer than announced'));
      digest.update(chunk);
      target.onProgress?.(bytes);
      done(null, chunk);
    },
  });
  const timer = setTimeout(() => body.destroy(fetchError('HTTP timed out')), Math.max(deadline - Date.now(), 0));
  try {
    await pipeline(body, meter, createWriteStream(target.path, { mode: 0o600 }));
  } catch (err) {
    await fs.rm(target.path, { force: true });
    throw err instanceof MnetFault ? err : fetchError(`HTTP ${(err as Error).message}`, err);
  } finally {
    clearTimeout(timer);
  }
  return { bytes, sha1: digest.digest('hex') };
}

function fetchError(detail: string, cause?: unknown) {
  return importError(`Failed to retrieve zipfile from remote server: ${detail}`, cause);
}
