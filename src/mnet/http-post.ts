import http from 'node:http';
import https from 'node:https';
import { FaultCode, MnetFault } from '../errors.js';

// Kept-alive connections to peers: every MNet call is one POST, often many in a row to one site. Idle
// sockets are dropped after 4 s, before a typical server (Apache: 5 s) closes them under a new request.
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 4_000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 4_000 }),
};

/**
 * One POST of an MNet document, answered with the whole body (node:http rather than fetch: undici's
 * stream machinery cost our client about a sixth of its time per call, bench/mnet-calls.ts).
 * Refuses anything but HTTP 200 (redirects included), stops reading past `maxBytes`, and gives up after
 * `timeoutMs` for the whole exchange. Every failure is an MnetFault: Transport, or BodyTooLarge.
 */
export function postXml(url: string, body: Buffer, options: { timeoutMs: number; maxBytes: number }): Promise<Buffer> {
  const target = new URL(url);
  const agent = target.protocol === 'https:' ? agents['https:'] : target.protocol === 'http:' ? agents['http:'] : undefined;
  if (!agent) return Promise.reject(new MnetFault(FaultCode.Transport, `Cannot post to ${url}: not an http(s) address`));
  const request = target.protocol === 'https:' ? https.request : http.request;

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (fault: MnetFault) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(fault);
    };
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'text/xml; charset=UTF-8', 'User-Agent': 'Mahara', 'Content-Length': body.length },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail(new MnetFault(FaultCode.Transport, `${url} answered HTTP ${res.statusCode}`));
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > options.maxBytes) {
          return fail(new MnetFault(FaultCode.BodyTooLarge, `${url} sent a response of ${declared} bytes, over the limit`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) return fail(new MnetFault(FaultCode.BodyTooLarge, `${url} sent a response over the limit`));
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        });
        res.on('error', (err) => fail(new MnetFault(FaultCode.Transport, `Reading the answer of ${url} failed: ${err.message}`, { cause: err })));
      },
    );
    const timer = setTimeout(() => fail(new MnetFault(FaultCode.Transport, `Could not reach ${url}: timed out`)), options.timeoutMs);
    req.on('error', (err) => fail(new MnetFault(FaultCode.Transport, `Could not reach ${url}: ${err.message}`, { cause: err })));
    req.end(body);
  });
}
