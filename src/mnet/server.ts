import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { MnetConfig } from '../config.js';
import { FaultCode, MnetFault, toFault } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeMethodCall, encodeFault, encodeResponse, type MethodCall, type XmlRpcValue } from './codec.js';
import {
  buildEncryptedMessage,
  buildSignedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  signPayload,
  verifySignedMessage,
} from './envelope.js';
import type { KeyStore, SiteKey } from './keys.js';
import { MethodPath, isPublishedTo, isValidMethodName, type MethodRegistry } from './methods.js';
import { findPeer, touchPeer, type Peer } from './peers.js';
import { trimWwwroot } from './wwwroot.js';
import { keyswap } from './system.js';
import { parseXml, type XmlElement } from './xml.js';

/** What the HTTP layer hands us and gets back; nothing here knows about Koa (§11 last bullet). */
export interface MnetHttpRequest {
  body: Buffer;
  /** The Host header, for the optional wrong-host check (§1.2). */
  host: string | undefined;
}

export interface MnetHttpResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

export interface MnetServerDeps {
  db: Knex;
  keys: KeyStore;
  registry: MethodRegistry;
  /** Used once per request at most, to refresh a peer's key after a failed signature (§3.3 step 3). */
  refreshPeerKey: (peer: Peer) => Promise<void>;
  wwwroot: string;
  mnet: MnetConfig;
  log: Logger;
  now: () => Date;
}

/** An authenticated request, with what is needed to answer it the way it came (§4.4). */
interface OpenedRequest {
  call: MethodCall;
  peer: Peer | undefined;
  encrypted: boolean;
  signed: boolean;
  /** The key pair that opened the request; the answer is signed with it so the caller can verify it. */
  replyKey: SiteKey;
}

const XML = 'text/xml; charset=utf-8';

/** The least time between two key refreshes of one peer triggered by failed signatures. */
const REFRESH_INTERVAL_MS = 60_000;

export class MnetServer {
  private replayInserts = 0;
  private readonly refreshes = new Map<string, { startedAt: number; done: Promise<void> }>();

  private readonly ourHostname: string;

  constructor(private readonly deps: MnetServerDeps) {
    this.ourHostname = new URL(deps.wwwroot).hostname;
  }

  /** The whole endpoint: bytes in, bytes out. Faults before authentication are plain (§2.3). */
  async handle(request: MnetHttpRequest): Promise<MnetHttpResponse> {
    const { mnet, log } = this.deps;
    if (!mnet.networking) {
      if (mnet.debug) return plainFault(new MnetFault(FaultCode.NetworkingOff, 'Networking is disabled'));
      return { status: 403, contentType: 'text/plain', body: Buffer.alloc(0) };
    }
    let opened: OpenedRequest | MnetHttpResponse;
    try {
      this.checkHost(request.host);
      opened = await this.open(parseXml(request.body, FaultCode.NotXml));
    } catch (err) {
      const fault = toFault(err);
      log.info('refused an MNet request', { code: fault.code, reason: fault.message });
      if (fault.code === FaultCode.Internal) log.error('MNet request failed', { error: err });
      return plainFault(fault);
    }
    if ('status' in opened) return opened;
    return this.answer(opened);
  }

  /** Wraps a fault the way Mahara sends pre-authentication faults: a plain methodResponse. */
  plainFault(fault: MnetFault): MnetHttpResponse {
    return plainFault(fault);
  }

  private checkHost(host: string | undefined): void {
    if (!this.deps.mnet.checkHost || host === undefined) return;
    const ours = this.ourHostname;
    // Port ignored, as Mahara does; an IPv6 literal keeps its brackets in both.
    const theirs = host.replace(/:\d+$/, '');
    if (theirs !== ours) throw new MnetFault(FaultCode.WrongHost, `Wrong host name in request: ${theirs}`);
  }

  /** Steps 4–8 of the dispatcher (§7.5): decrypt, verify, decode, validate, enforce strict mode. */
  private async open(root: XmlElement): Promise<OpenedRequest | MnetHttpResponse> {
    let encrypted = false;
    let outerWwwroot: string | undefined;
    let replyKey: SiteKey | undefined;
    let doc = root;

    if (doc.name === 'encryptedMessage') {
      const envelope = readEncryptedMessage(doc);
      outerWwwroot = trimWwwroot(envelope.wwwroot);
      const { keys } = this.deps;
      let candidates = await keys.decryptionKeys();
      let opened = await decryptEnvelope(envelope, candidates);
      if (!opened) {
        // Another instance may have rotated the shared key pair since we read ours (at most once a second,
        // so undecryptable junk cannot turn every request into a database read).
        const fresher = await keys.refresh();
        if (fresher !== candidates) opened = await decryptEnvelope(envelope, (candidates = fresher));
      }
      if (!opened) throw new MnetFault(FaultCode.CannotDecrypt, 'No key could decrypt this message');
      replyKey = candidates[opened.keyIndex]!;
      if (opened.keyIndex > 0) return this.answerOldKey(outerWwwroot, replyKey);
      encrypted = true;
      // An encrypted methodCall goes on unsigned: strict mode below refuses it (6005) unless it is keyswap.
      doc = parseXml(opened.plaintext, FaultCode.DecryptedNotXml);
    }

    let signed = false;
    let peer: Peer | undefined;
    let payload = doc;
    if (doc.name === 'signedMessage') {
      const message = readSignedMessage(doc);
      const wwwroot = trimWwwroot(message.wwwroot);
      peer = await findPeer(this.deps.db, wwwroot);
      if (!peer) throw new MnetFault(FaultCode.UnknownPeer, `We don't have a record for your webserver (${wwwroot})`);
      if (outerWwwroot !== undefined && outerWwwroot !== wwwroot) {
        throw new MnetFault(FaultCode.BadSignature, 'The signed and encrypted envelopes name different sites');
      }
      if (!verifySignedMessage(message, peer.publicKey)) peer = await this.verifyAfterRefresh(peer, message);
      await this.checkFreshAndUnseen(message.timestamp, message.signature);
      signed = true;
      payload = parseXml(message.payload, FaultCode.SignedPayloadNotXml);
    }

    if (payload.name !== 'methodCall') {
      throw new MnetFault(FaultCode.UnknownRoot, `Unrecognised document root <${payload.name}>`);
    }
    const call = decodeMethodCall(payload);
    if (!isValidMethodName(call.methodName)) {
      throw new MnetFault(FaultCode.InvalidMethodName, `Invalid method name: ${call.methodName}`);
    }
    if (!(encrypted && signed) && call.methodName !== MethodPath.keyswap) {
      throw new MnetFault(FaultCode.NotSignedAndEncrypted, 'This method must be called signed and encrypted');
    }
    return { call, peer, encrypted, signed, replyKey: replyKey ?? (await this.deps.keys.current()) };
  }

  /**
   * §3.3 step 3: one listServices round trip lets a rotated peer hand us its new key; then one retry.
   * Anyone can send a bad signature under a peer's name, so refreshes are shared: concurrent requests
   * wait for the one in flight, and a peer is asked at most once a minute.
   */
  private async verifyAfterRefresh(peer: Peer, message: ReturnType<typeof readSignedMessage>): Promise<Peer> {
    let refresh = this.refreshes.get(peer.wwwroot);
    if (!refresh || Date.now() - refresh.startedAt > REFRESH_INTERVAL_MS) {
      const done = this.deps.refreshPeerKey(peer).catch((err: unknown) => {
        this.deps.log.info('key refresh after a failed signature did not succeed', { peer: peer.wwwroot, error: err });
      });
      refresh = { startedAt: Date.now(), done };
      this.refreshes.set(peer.wwwroot, refresh);
    }
    await refresh.done;
    const refreshed = await findPeer(this.deps.db, peer.wwwroot);
    if (refreshed && refreshed.publicKeyPem !== peer.publicKeyPem && verifySignedMessage(message, refreshed.publicKey)) {
      return refreshed;
    }
    throw new MnetFault(FaultCode.BadSignature, 'The signature could not be verified');
  }

  /**
   * Opt-in request window (§3.4), off by default because real Moodle clocks drift: refuse timestamps too far
   * from our clock, and accept each signature value once while it could still be fresh.
   */
  private async checkFreshAndUnseen(timestamp: number, signature: Buffer): Promise<void> {
    const window = this.deps.mnet.requestWindowSeconds;
    if (window === 0) return;
    const now = this.deps.now();
    if (Math.abs(Math.floor(now.getTime() / 1000) - timestamp) > window) {
      throw new MnetFault(FaultCode.TimestampOutsideWindow, 'Message timestamp outside the allowed window');
    }
    const hash = crypto.createHash('sha1').update(signature).digest('hex');
    const inserted = await this.deps.db('mnet_replay_cache')
      .insert({ signature_sha1: hash, expires_at: new Date(now.getTime() + 2 * window * 1000) })
      .onConflict('signature_sha1')
      .ignore()
      .returning('signature_sha1');
    if (++this.replayInserts % 100 === 0) await this.deps.db('mnet_replay_cache').where('expires_at', '<', now).delete();
    if (inserted.length === 0) throw new MnetFault(FaultCode.TimestampOutsideWindow, 'This message was already received');
  }

  /**
   * §4.3: a request opened by a retired key gets fault 7025 carrying our current certificate, signed with
   * the old key that opened it (Moodle's choice: the caller can only verify that one) and encrypted to the
   * caller's stored certificate. The request itself is not executed.
   */
  private async answerOldKey(outerWwwroot: string, oldKey: SiteKey): Promise<MnetHttpResponse> {
    const peer = await findPeer(this.deps.db, outerWwwroot);
    if (!peer) throw new MnetFault(FaultCode.UnknownPeer, `We don't have a record for your webserver (${outerWwwroot})`);
    const current = await this.deps.keys.current();
    this.deps.log.info('a peer used one of our old keys; sending it our current certificate', { peer: peer.wwwroot });
    return this.wrap(encodeFault(FaultCode.OldKey, current.certificatePem), {
      peer,
      encrypted: true,
      signed: true,
      replyKey: oldKey,
    });
  }

  /** Steps 9–10: run the method, and answer (result or fault) wrapped like the request. */
  private async answer(request: OpenedRequest): Promise<MnetHttpResponse> {
    const { log } = this.deps;
    let payload: Buffer;
    try {
      payload = encodeResponse(await this.dispatch(request));
    } catch (err) {
      const fault = toFault(err);
      if (fault.code === FaultCode.Internal) {
        log.error('MNet method failed', { method: request.call.methodName, error: err });
        payload = encodeFault(FaultCode.Internal, 'Internal server error');
      } else {
        log.info('MNet method refused', { method: request.call.methodName, code: fault.code, reason: fault.message });
        payload = encodeFault(fault.code, fault.expose ? fault.message : 'Internal server error');
      }
    }
    // The method has run: a failure to record the contact must not turn its answer into an error.
    if (request.peer) {
      await touchPeer(this.deps.db, request.peer, this.deps.now()).catch((err: unknown) =>
        log.warn('could not record the last contact of a peer', { peer: request.peer?.wwwroot, error: err }),
      );
    }
    return this.wrap(payload, request);
  }

  private async dispatch({ call, peer }: OpenedRequest): Promise<XmlRpcValue> {
    const { db, registry, log, now } = this.deps;
    if (call.methodName === MethodPath.keyswap) {
      return keyswap(call.params, { db, keys: this.deps.keys, promiscuous: this.deps.mnet.promiscuous, now, log });
    }
    // Strict mode guarantees an authenticated peer for everything but keyswap.
    const caller = peer!;
    const method = registry.find(call.methodName);
    if (!method) throw new MnetFault(FaultCode.NoSuchMethod, `No such method: ${call.methodName}`);
    if (!isPublishedTo(registry, caller, method.service)) {
      throw new MnetFault(FaultCode.NoSuchMethod, `Method ${call.methodName} is not published to ${caller.wwwroot}`);
    }
    return method.handler(call.params, { peer: caller, db, now: now(), log });
  }

  /** Mirrors the request (§4.4): signed if it was signed, encrypted to the caller's stored key if it was. */
  private async wrap(payload: Buffer, how: Omit<OpenedRequest, 'call'>): Promise<MnetHttpResponse> {
    if (!how.signed || !how.peer) return { status: 200, contentType: XML, body: payload };
    let body = buildSignedMessage({
      payload,
      signature: await signPayload(payload, how.replyKey.privateKey),
      wwwroot: this.deps.wwwroot,
      timestamp: Math.floor(this.deps.now().getTime() / 1000),
      publicKeyUrl: `${this.deps.wwwroot}/api/xmlrpc/publickey.php`,
    });
    if (how.encrypted) {
      body = buildEncryptedMessage({ plaintext: body, wwwroot: this.deps.wwwroot, recipientKey: how.peer.publicKey });
    }
    return { status: 200, contentType: XML, body };
  }
}

function plainFault(fault: MnetFault): MnetHttpResponse {
  const message = fault.expose ? fault.message : 'Internal server error';
  return { status: 200, contentType: XML, body: encodeFault(fault.code, message) };
}
