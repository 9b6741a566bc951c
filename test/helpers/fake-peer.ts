import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import { generateKeyPair, parseCertificate } from '../../src/mnet/certificate.js';
import { savePeer, type ApplicationName, type Peer } from '../../src/mnet/peers.js';
import { decodeMethodCall, encodeFault, encodeResponse, type XmlRpcValue } from '../../src/mnet/codec.js';
import {
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
} from '../../src/mnet/envelope.js';
import { deriveRejectionSecret } from '../../src/mnet/rsa.js';
import { parseXml } from '../../src/mnet/xml.js';
import { signedMessageWithKey } from './sign.js';
import { streamFileResponse } from './stream-envelope.js';

/**
 * A stand-in for a remote Moodle site in tests: a real HTTP server on loopback at Moodle's endpoint path,
 * with its own key pair and key history, that answers the way Moodle's server does (§4.3: a request
 * encrypted to an old key gets 7025 signed with that old key; plain keyswap answers the certificate).
 */
export type FakeHandler = (params: XmlRpcValue[], caller: string) => XmlRpcValue | FakeFileResult | Promise<XmlRpcValue | FakeFileResult>;

/**
 * A handler result answered as a `<string>` holding base64 of the file at `path`, streamed (signed and
 * encrypted on the fly, stream-envelope.ts), so a test or bench can send a file of any size.
 */
export class FakeFileResult {
  constructor(
    readonly path: string,
    readonly options: { corruptSignature?: boolean } = {},
  ) {}
}

export class FakeFault extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface FakeKey {
  certificatePem: string;
  privateKey: crypto.KeyObject;
  rejectionSecret: Buffer;
}

export const MOODLE_SERVER_PATH = '/mnet/xmlrpc/server.php';

export class FakePeer {
  readonly calls: Array<{ method: string; params: XmlRpcValue[]; encrypted: boolean }> = [];
  readonly handlers = new Map<string, FakeHandler>();
  /** Certificates of the sites allowed to call us, by wwwroot (Moodle's mnet_host.public_key). */
  readonly trusted = new Map<string, string>();
  /** Files served to plain GETs by path (the design note's HTTP transport), and the URLs asked for. */
  readonly downloads = new Map<string, Buffer>();
  readonly downloadRequests: string[] = [];
  /** Seconds added to our clock when signing (to test the client's drift check). */
  clockSkewSeconds = 0;
  /**
   * Replaces the whole HTTP answer when set (to test transport errors): after `delayMs`, the body in one
   * write, or in `pieces` writes `pieceDelayMs` apart (a slow peer that keeps sending).
   */
  rawAnswer:
    | ((body: Buffer) => { status: number; body: string | Buffer; delayMs?: number; pieces?: number; pieceDelayMs?: number })
    | undefined;

  private constructor(
    readonly wwwroot: string,
    private readonly server: http.Server,
    private keys: FakeKey[],
  ) {}

  static async start(): Promise<FakePeer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const wwwroot = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const peer = new FakePeer(wwwroot, server, [await makeKey(wwwroot)]);
    server.on('request', (req, res) => void peer.serve(req, res));
    return peer;
  }

  get certificatePem(): string {
    return this.keys[0]!.certificatePem;
  }

  /** Rotates our key pair like Moodle's cron; the old pair still opens requests (and answers 7025). */
  async rotate(): Promise<void> {
    this.keys = [await makeKey(this.wwwroot), ...this.keys].slice(0, 4);
  }

  /** Signs a call with our current key and encrypts it to `recipientPem`: what a Moodle client sends. */
  buildRequest(recipientPem: string, body: Buffer, options: { timestamp?: number; signWith?: number; outerWwwroot?: string } = {}): Buffer {
    const signed = signedMessageWithKey({
      payload: body,
      wwwroot: this.wwwroot,
      timestamp: options.timestamp ?? Math.floor(Date.now() / 1000) + this.clockSkewSeconds,
      privateKey: this.keys[options.signWith ?? 0]!.privateKey,
      publicKeyUrl: `${this.wwwroot}/mnet/publickey.php`,
    });
    return buildEncryptedMessage({
      plaintext: signed,
      wwwroot: options.outerWwwroot ?? this.wwwroot,
      recipientKey: parseCertificate(recipientPem).publicKey,
    });
  }

  /** Opens a response from the site at `senderPem` that was encrypted to us. */
  async openResponse(body: Buffer, senderPem: string): Promise<{ payload: Buffer; verified: boolean }> {
    const opened = await decryptEnvelope(readEncryptedMessage(parseXml(body, 6001)), this.keys);
    if (!opened) throw new Error('fake peer could not decrypt the response');
    const message = readSignedMessage(parseXml(opened.plaintext, 6002));
    return { payload: message.payload, verified: verifySignedMessage(message, parseCertificate(senderPem).publicKey) };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const download = req.method === 'GET' ? this.downloads.get(new URL(req.url!, this.wwwroot).pathname) : undefined;
    if (download) {
      this.downloadRequests.push(req.url!);
      res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Length': download.length }).end(download);
      return;
    }
    if (req.url !== MOODLE_SERVER_PATH || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    if (this.rawAnswer) {
      const answer = this.rawAnswer(body);
      if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
      res.writeHead(answer.status, { 'Content-Type': 'text/xml' });
      const bytes = Buffer.from(answer.body);
      const pieces = answer.pieces ?? 1;
      for (let i = 0; i < pieces - 1; i++) {
        res.write(bytes.subarray(Math.floor((bytes.length * i) / pieces), Math.floor((bytes.length * (i + 1)) / pieces)));
        await new Promise((r) => setTimeout(r, answer.pieceDelayMs ?? 0));
      }
      res.end(bytes.subarray(Math.floor((bytes.length * (pieces - 1)) / pieces)));
      return;
    }
    const answer = await this.answer(body);
    res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
    if (Buffer.isBuffer(answer)) {
      res.end(answer);
      return;
    }
    // A streamed answer (chunked, no Content-Length), with backpressure; a client that hangs up ends it.
    await pipeline(Readable.from(answer), res).catch(() => undefined);
  }

  private async answer(body: Buffer): Promise<Buffer | AsyncIterable<Buffer>> {
    const root = parseXml(body, 6001);
    if (root.name === 'methodCall') {
      const call = decodeMethodCall(root);
      this.calls.push({ method: call.methodName, params: call.params, encrypted: false });
      if (call.methodName === 'system/keyswap') return encodeResponse(this.certificatePem);
      return encodeFault(7021, 'plaintext not allowed');
    }
    const envelope = readEncryptedMessage(root);
    const opened = await decryptEnvelope(envelope, this.keys);
    if (!opened) return encodeFault(7023, 'encryption-invalid');
    const callerPem = this.trusted.get(envelope.wwwroot);
    if (!callerPem) return encodeFault(7020, 'unknown wwwroot');
    const reply = (payload: Buffer, keyIndex: number) => {
      const signed = signedMessageWithKey({
        payload,
        wwwroot: this.wwwroot,
        timestamp: Math.floor(Date.now() / 1000) + this.clockSkewSeconds,
        privateKey: this.keys[keyIndex]!.privateKey,
        publicKeyUrl: `${this.wwwroot}/mnet/publickey.php`,
      });
      return buildEncryptedMessage({ plaintext: signed, wwwroot: this.wwwroot, recipientKey: parseCertificate(callerPem).publicKey });
    };
    // Moodle: opened with an old key → 7025 with the current certificate, signed with the old key.
    if (opened.keyIndex > 0) return reply(encodeFault(7025, this.certificatePem), opened.keyIndex);
    const message = readSignedMessage(parseXml(opened.plaintext, 6002));
    if (!verifySignedMessage(message, parseCertificate(callerPem).publicKey)) return reply(encodeFault(710, 'signature invalid'), 0);
    const call = decodeMethodCall(parseXml(message.payload, 6007));
    this.calls.push({ method: call.methodName, params: call.params, encrypted: true });
    const handler = this.handlers.get(call.methodName);
    if (!handler) return reply(encodeFault(7012, 'Unable to locate function, or function prohibited for RPC.'), 0);
    try {
      const result = await handler(call.params, envelope.wwwroot);
      if (result instanceof FakeFileResult) {
        return streamFileResponse({
          filePath: result.path,
          signingKey: this.keys[0]!.privateKey,
          wwwroot: this.wwwroot,
          timestamp: Math.floor(Date.now() / 1000) + this.clockSkewSeconds,
          publicKeyUrl: `${this.wwwroot}/mnet/publickey.php`,
          recipientKey: parseCertificate(callerPem).publicKey,
          corruptSignature: result.options.corruptSignature,
        });
      }
      return reply(encodeResponse(result), 0);
    } catch (err) {
      if (err instanceof FakeFault) return reply(encodeFault(err.code, err.message), 0);
      throw err;
    }
  }
}

async function makeKey(wwwroot: string): Promise<FakeKey> {
  const pair = await generateKeyPair({
    wwwroot,
    subject: { country: 'NZ', province: 'Wellington', locality: 'Wellington', organisation: 'Fake Moodle', email: 'noreply@moodle.test' },
    days: 28,
    now: new Date(),
  });
  const privateKey = crypto.createPrivateKey(pair.privateKeyPem);
  return { certificatePem: pair.certificatePem, privateKey, rejectionSecret: deriveRejectionSecret(privateKey) };
}

/**
 * Registers `fake` as one of our peers (directly, without keyswap, which is tested elsewhere) and makes it
 * trust our certificate, as both admins would.
 */
export async function registerFakePeer(
  db: Knex,
  fake: FakePeer,
  us: { wwwroot: string; certificatePem: string },
  options: { name?: string; application?: ApplicationName } = {},
): Promise<Peer> {
  fake.trusted.set(us.wwwroot, us.certificatePem);
  const cert = parseCertificate(fake.certificatePem);
  return savePeer(
    db,
    { wwwroot: fake.wwwroot, name: options.name ?? 'Fake Moodle', application: options.application ?? 'moodle', publicKeyPem: cert.pem, publicKeyExpires: cert.validTo },
    new Date(),
  );
}
