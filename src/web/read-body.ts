import type { IncomingMessage } from 'node:http';
import { FaultCode, MnetFault } from '../errors.js';

/**
 * Reads a request body as raw bytes, whatever its Content-Type says (Mahara sends the malformed
 * `text/xml charset=UTF-8`, §1.2), and stops reading as soon as it passes the cap.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(maxBytes: number): MnetFault {
  return new MnetFault(FaultCode.BodyTooLarge, `Request body is larger than the limit of ${maxBytes} bytes`);
}
