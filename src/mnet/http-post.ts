import http from 'node:http';
import https from 'node:https';
import { Transform, pipeline, type Writable } from 'node:stream';
import { FaultCode, MnetFault } from '../errors.js';

// Kept-alive connections to peers: every MNet call is one POST, often many in a row to one site. Idle
// sockets are dropped after 4 s, before a typical server (Apache: 5 s) closes them under a new request.
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 4_000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 4_000 }),
};

/** What a body reader gets besides the response: the ways to end the exchange, and the timer. */
interface Exchange<T> {
  fail(fault: MnetFault): void;
  done(value: T): void;
  /** Restarts the timeout (an idle timeout: called whenever bytes arrive). */
  refreshTimer(): void;
}

/**
 * One POST of an MNet document: sends it, refuses anything but HTTP 200 (redirects included) and a
 * declared Content-Length over `maxBytes`, then lets `read` consume the body. Gives up after `timeoutMs`
 * (for the whole exchange unless `read` refreshes the timer). Every failure is an MnetFault: Transport,
 * BodyTooLarge, or whatever `read` fails with.
 */
function exchange<T>(
  url: string,
  body: Buffer,
  options: { timeoutMs: number; maxBytes: number },
  read: (res: http.IncomingMessage, exchange: Exchange<T>) => void,
): Promise<T> {
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
    const done = (value: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
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
        read(res, { fail, done, refreshTimer: () => timer.refresh() });
      },
    );
    const timer = setTimeout(() => fail(new MnetFault(FaultCode.Transport, `Could not reach ${url}: timed out`)), options.timeoutMs);
    req.on('error', (err) => fail(new MnetFault(FaultCode.Transport, `Could not reach ${url}: ${err.message}`, { cause: err })));
    req.end(body);
  });
}

/**
 * One POST of an MNet document, answered with the whole body (node:http rather than fetch: undici's
 * stream machinery cost our client about a sixth of its time per call, bench/mnet-calls.ts).
 * Refuses anything but HTTP 200 (redirects included), stops reading past `maxBytes`, and gives up after
 * `timeoutMs` for the whole exchange. Every failure is an MnetFault: Transport, or BodyTooLarge.
 */
export function postXml(url: string, body: Buffer, options: { timeoutMs: number; maxBytes: number }): Promise<Buffer> {
  return exchange<Buffer>(url, body, options, (res, { fail, done }) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxBytes) return fail(new MnetFault(FaultCode.BodyTooLarge, `${url} sent a response over the limit`));
      chunks.push(chunk);
    });
    res.on('end', () => done(Buffer.concat(chunks)));
    res.on('error', (err) => fail(new MnetFault(FaultCode.Transport, `Reading the answer of ${url} failed: ${err.message}`, { cause: err })));
  });
}

/**
 * Like postXml, for answers too big to hold (fetch_file, §7.4): the body is piped into `sink` with
 * backpressure, and the promise settles when the sink has finished with it. `timeoutMs` is an idle
 * timeout here (no bytes for that long), so a long download is not cut while data flows. More than
 * `maxBytes` → BodyTooLarge; a connection lost mid-body → Transport; the sink's own failures must be
 * MnetFaults and come out unchanged.
 */
export function postXmlToStream(
  url: string,
  body: Buffer,
  options: { idleTimeoutMs: number; maxBytes: number; onProgress?: (bytesReceived: number) => void },
  sink: Writable,
): Promise<void> {
  return exchange<void>(url, body, { timeoutMs: options.idleTimeoutMs, maxBytes: options.maxBytes }, (res, { fail, done, refreshTimer }) => {
    let size = 0;
    let lost: Error | undefined;
    res.on('error', (err) => (lost ??= err));
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > options.maxBytes) return callback(new MnetFault(FaultCode.BodyTooLarge, `${url} sent a response over the limit`));
        refreshTimer();
        try {
          options.onProgress?.(size);
        } catch (err) {
          return callback(new MnetFault(FaultCode.Internal, `onProgress failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        }
        callback(null, chunk);
      },
    });
    pipeline(res, counter, sink, (err) => {
      if (!err) return done();
      if (err instanceof MnetFault && !lost) return fail(err);
      const cause = lost ?? err;
      fail(new MnetFault(FaultCode.Transport, `Reading the answer of ${url} failed: ${cause.message}`, { cause }));
    });
  });
}
