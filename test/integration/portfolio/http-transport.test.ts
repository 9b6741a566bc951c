import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MnetFault } from '../../../src/errors.js';
import { fetchOverHttp } from '../../../src/portfolio/transports/http.js';

/**
 * The design note's HTTP transport (portfolio-import.md §3.2, checklist 19): one GET with `id` and `token`
 * added, only on the peer's own host and scheme, the zip streamed to disk.
 */
const ZIP = crypto.randomBytes(50_000);

describe('fetchOverHttp', () => {
  let peer: http.Server;
  let elsewhere: http.Server;
  let peerRoot: string;
  let elsewhereRoot: string;
  const requests: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-http-'));
  const target = () => ({ path: path.join(dir, `${crypto.randomUUID()}.zip`), maxBytes: 10 * 1024 * 1024 });

  async function listen(handler: http.RequestListener): Promise<[http.Server, string]> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
  }

  beforeAll(async () => {
    [elsewhere, elsewhereRoot] = await listen((req, res) => {
      requests.push(`elsewhere ${req.url}`);
      res.end(ZIP);
    });
    [peer, peerRoot] = await listen((req, res) => {
      requests.push(req.url!);
      const url = new URL(req.url!, peerRoot);
      if (url.pathname === '/export') return res.writeHead(200, { 'Content-Length': ZIP.length }).end(ZIP);
      if (url.pathname === '/moved') return res.writeHead(302, { Location: `/export?${url.searchParams}` }).end();
      if (url.pathname === '/away') return res.writeHead(302, { Location: `${elsewhereRoot}/export` }).end();
      if (url.pathname === '/loop') return res.writeHead(302, { Location: '/loop' }).end();
      if (url.pathname === '/lying') return res.writeHead(200, { 'Content-Length': ZIP.length + 1 }).end(Buffer.concat([ZIP, Buffer.from('x')]));
      if (url.pathname === '/long') {
        res.writeHead(200);
        res.write(ZIP);
        return res.end(Buffer.from('more'));
      }
      res.writeHead(404).end();
    });
  });

  afterAll(async () => {
    await new Promise((r) => peer.close(r));
    await new Promise((r) => elsewhere.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const request = (location: string, peerWwwroot = peerRoot) => ({ location, peerWwwroot, id: 42, token: 'ab'.repeat(20), expectedBytes: ZIP.length });

  async function refusal(promise: Promise<unknown>): Promise<string> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MnetFault);
    expect((err as MnetFault).code).toBe(0);
    return (err as MnetFault).message;
  }

  it('makes one GET with id and token added, keeps the location\'s own query, and saves the body', async () => {
    requests.length = 0;
    const t = target();
    const fetched = await fetchOverHttp(request(`${peerRoot}/export?course=7`), t);
    expect(requests).toEqual([`/export?course=7&id=42&token=${'ab'.repeat(20)}`]);
    expect(fetched).toEqual({ bytes: ZIP.length, sha1: crypto.createHash('sha1').update(ZIP).digest('hex') });
    expect(fs.readFileSync(t.path)).toEqual(ZIP);
  });

  it('follows a redirect on the same host', async () => {
    requests.length = 0;
    expect((await fetchOverHttp(request(`${peerRoot}/moved`), target())).bytes).toBe(ZIP.length);
    expect(requests).toHaveLength(2);
  });

  it('never contacts another host: not as the location, not after a redirect', async () => {
    requests.length = 0;
    expect(await refusal(fetchOverHttp(request(`${elsewhereRoot}/export`), target()))).toMatch(/^Failed to retrieve zipfile from remote server: HTTP location .* is not on the peer/);
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/away`), target()))).toMatch(/is not on the peer/);
    expect(requests.filter((r) => r.startsWith('elsewhere'))).toEqual([]);
  });

  it('refuses plain http when the peer is https, and other schemes', async () => {
    const https = peerRoot.replace('http:', 'https:');
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/export`, https), target()))).toMatch(/is not on the peer/);
    expect(await refusal(fetchOverHttp(request('file:///etc/passwd'), target()))).toMatch(/is not on the peer/);
  });

  it('refuses a non-200 answer, a redirect loop, a wrong Content-Length and a body longer than announced, leaving no file', async () => {
    const t = target();
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/missing`), t))).toBe('Failed to retrieve zipfile from remote server: HTTP 404');
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/loop`), t))).toBe('Failed to retrieve zipfile from remote server: HTTP too many redirects');
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/lying`), t))).toMatch(/Content-Length/);
    expect(await refusal(fetchOverHttp(request(`${peerRoot}/long`), t))).toMatch(/longer than announced/);
    expect(fs.existsSync(t.path)).toBe(false);
  });
});
