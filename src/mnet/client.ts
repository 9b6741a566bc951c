import type { Knex } from 'knex';
import type { MnetConfig } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import { parsePeerCertificate, type ParsedCertificate } from './certificate.js';
import { decodeMethodResponse, encodeMethodCall, type XmlRpcValue } from './codec.js';
import {
  buildEncryptedMessage,
  buildSignedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  signPayload,
  verifySignedMessage,
} from './envelope.js';
import type { KeyStore } from './keys.js';
import { fileResponseBodyLimit, FileResponseReceiver } from './file-response.js';
import { postXml, postXmlToStream } from './http-post.js';
import { MethodPath, isSubscribedTo, type MethodRegistry } from './methods.js';
import { findPeer, touchPeer, updatePeerKey, type Peer } from './peers.js';
import { trimWwwroot } from './wwwroot.js';
import { parseXml, type XmlElement } from './xml.js';

export interface MnetClientDeps {
  db: Knex;
  /** Which service a method we call belongs to, for the subscribe check. */
  registry: MethodRegistry;
  keys: KeyStore;
  wwwroot: string;
  mnet: MnetConfig;
  log: Logger;
  now: () => Date;
}

export interface CallResult {
  value: XmlRpcValue;
  /** Peer clock minus ours, corrected by half the round trip (§3.4), in seconds. */
  clockOffsetSeconds: number;
  roundTripMs: number;
}

/** Where callForFile writes a file result, and how much of it it accepts. */
export interface FileTarget {
  /** Created (or truncated) with mode 0600; removed again on any failure. */
  path: string;
  /** Most decoded bytes; more → BodyTooLarge. Also sets the HTTP body limit (fileResponseBodyLimit). */
  maxBytes: number;
  /** HTTP body bytes received so far, called as they arrive. */
  onProgress?: (bytesReceived: number) => void;
}

export interface FileResult {
  bytes: number;
  /** Lowercase hex SHA-1 of the bytes written. */
  sha1: string;
}

/** What one attempt yields: the answer, or fault 7025's new certificate for the one retry (§5.5). */
type Attempt<T> = T | { newKeyPem: string };

/** The one way to call a peer (style.md): sign, encrypt, post, then open and check the answer. */
export class MnetClient {
  constructor(private readonly deps: MnetClientDeps) {}

  /** Calls `method` on `peer`; returns the decoded result or throws the peer's fault as an MnetFault. */
  async call(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<XmlRpcValue> {
    return (await this.callWithDetails(peer, method, params)).value;
  }

  async callWithDetails(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<CallResult> {
    this.assertSubscribed(peer, method);
    return this.withRekey(peer, (p) => this.callOnce(p, method, params));
  }

  /**
   * Like call(), for a method whose result is a (base64) file: the decoded bytes go to `target.path`, with
   * memory bounded whatever the size (fetch_file, §7.4; file-response.ts). The result must be a string,
   * `<base64>` or bare `<value>` of base64 (whitespace allowed, padding optional); an empty one writes an
   * empty file. clientTimeoutMs is an idle timeout here, not one for the whole exchange. On any failure,
   * including a signature that does not verify (known only at the end), nothing is left on disk.
   */
  async callForFile(peer: Peer, method: string, params: readonly XmlRpcValue[], target: FileTarget): Promise<FileResult> {
    this.assertSubscribed(peer, method);
    return this.withRekey(peer, (p) => this.callOnceForFile(p, method, params, target));
  }

  /**
   * Plain system/keyswap (§5.3): sends our certificate and returns the peer's, checked against the
   * wwwroot it is meant to belong to. Used to register and verify peers; stores nothing.
   */
  async keyswap(wwwroot: string, xmlrpcServerPath: string): Promise<ParsedCertificate> {
    const root = trimWwwroot(wwwroot);
    const ours = await this.deps.keys.current();
    const request = encodeMethodCall(MethodPath.keyswap, [this.deps.wwwroot, ours.certificatePem, 'mahara']);
    const body = await this.post(root + xmlrpcServerPath, request);
    const doc = parseXml(body, FaultCode.BadResponse);
    if (doc.name !== 'methodResponse') throw new MnetFault(FaultCode.BadResponse, `${root} did not answer keyswap with XML-RPC`);
    const response = decodeMethodResponse(doc);
    if ('fault' in response) {
      throw new MnetFault(response.fault.code, `${root} refused keyswap: ${response.fault.message}`);
    }
    if (typeof response.value !== 'string') throw new MnetFault(FaultCode.BadResponse, `${root} answered keyswap without a certificate`);
    return parsePeerCertificate(response.value, root);
  }

  private assertSubscribed(peer: Peer, method: string): void {
    const service = this.deps.registry.serviceOfRemoteMethod(method);
    if (service !== undefined && !isSubscribedTo(this.deps.registry, peer, service)) {
      throw new MnetFault(FaultCode.NotSubscribed, `We do not subscribe to ${service} on ${peer.wwwroot}, so we may not call ${method}`);
    }
  }

  /**
   * §5.5: when the peer rotated and told us its new certificate, store it (only if it is really the
   * peer's) and send the same call once more in a fresh envelope; a second 7025 is not followed.
   */
  private async withRekey<T extends object>(peer: Peer, attempt: (peer: Peer) => Promise<Attempt<T>>): Promise<T> {
    const first = await attempt(peer);
    if (!('newKeyPem' in first)) return first;
    const updated = await this.storeNewPeerKey(peer, first.newKeyPem);
    const second = await attempt(updated);
    if ('newKeyPem' in second) throw new MnetFault(FaultCode.OldKey, `${peer.wwwroot} asked us to re-key twice in one call`);
    return second;
  }

  /** Our request: the XML-RPC call signed with our current key (§3) and encrypted to the peer's (§4). */
  private async buildRequest(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<{ body: Buffer; sentAt: Date }> {
    const { keys, wwwroot, now } = this.deps;
    const key = await keys.current();
    const sentAt = now();
    const payload = encodeMethodCall(method, params);
    const signed = buildSignedMessage({
      payload,
      signature: await signPayload(payload, key.privateKey),
      wwwroot,
      timestamp: Math.floor(sentAt.getTime() / 1000),
      publicKeyUrl: `${wwwroot}/api/xmlrpc/publickey.php`,
    });
    return { body: buildEncryptedMessage({ plaintext: signed, wwwroot, recipientKey: peer.publicKey }), sentAt };
  }

  private async callOnce(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<Attempt<CallResult>> {
    const { keys, now } = this.deps;
    const { body, sentAt } = await this.buildRequest(peer, method, params);
    const responseBody = await this.post(peer.wwwroot + peer.xmlrpcServerPath, body);
    const receivedAt = now();

    const outer = parseXml(responseBody, FaultCode.BadResponse);
    if (outer.name === 'methodResponse') throwPlainResponse(peer, outer);
    if (outer.name !== 'encryptedMessage') throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: not an MNet response`);
    // A response encrypted to one of our old keys is fine (§4.3, checklist 33).
    const opened = await decryptEnvelope(readResponse(peer, () => readEncryptedMessage(outer)), await keys.decryptionKeys());
    if (!opened) throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: response could not be decrypted with our keys`);
    const inner = parseXml(opened.plaintext, FaultCode.BadResponse);
    if (inner.name !== 'signedMessage') throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: payload not signed`);
    const message = readResponse(peer, () => readSignedMessage(inner));
    const offset = this.checkSignedResponse(peer, message, () => verifySignedMessage(message, peer.publicKey), sentAt, receivedAt);

    const response = readResponse(peer, () => decodeMethodResponse(parseXml(message.payload, FaultCode.BadResponse)));
    await this.touch(peer, receivedAt);
    if ('fault' in response) return rekeyOrThrow(peer, response.fault);
    return { value: response.value, clockOffsetSeconds: offset, roundTripMs: receivedAt.getTime() - sentAt.getTime() };
  }

  /** callOnce for a file result, streamed (file-response.ts): the same checks in the same order. */
  private async callOnceForFile(peer: Peer, method: string, params: readonly XmlRpcValue[], target: FileTarget): Promise<Attempt<FileResult>> {
    const { keys, mnet, now } = this.deps;
    const { body, sentAt } = await this.buildRequest(peer, method, params);
    const receiver = await FileResponseReceiver.create({
      path: target.path,
      maxBytes: target.maxBytes,
      maxPlainBytes: mnet.maxResponseBytes,
      peerLabel: peer.wwwroot,
    });
    try {
      await postXmlToStream(
        peer.wwwroot + peer.xmlrpcServerPath,
        body,
        { idleTimeoutMs: mnet.clientTimeoutMs, maxBytes: fileResponseBodyLimit(target.maxBytes), onProgress: target.onProgress },
        receiver.sink(),
      );
      const receivedAt = now();
      const received = receiver.received();
      if ('plain' in received) throwPlainResponse(peer, parseXml(received.plain, FaultCode.BadResponse));
      const opened = await receiver.open(await keys.decryptionKeys(), peer.publicKey);
      this.checkSignedResponse(peer, opened, () => opened.verified, sentAt, receivedAt);

      const { result } = opened;
      if ('fault' in result) {
        const fault = readFault(peer, result.fault);
        await this.touch(peer, receivedAt);
        return rekeyOrThrow(peer, fault);
      }
      await this.touch(peer, receivedAt);
      receiver.keep();
      return result;
    } finally {
      await receiver.dispose();
    }
  }

  /**
   * The signed envelope must be the peer's (§3.3 step 5: the signed wwwroot, then the signature) and its
   * clock not too far ahead of ours (§3.4). Returns the clock offset.
   */
  private checkSignedResponse(
    peer: Peer,
    message: { wwwroot: string; timestamp: number },
    verify: () => boolean,
    sentAt: Date,
    receivedAt: Date,
  ): number {
    const { mnet } = this.deps;
    if (trimWwwroot(message.wwwroot) !== peer.wwwroot || !verify()) {
      throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: response signature could not be verified`);
    }
    const send = Math.floor(sentAt.getTime() / 1000);
    const rtt = Math.floor(receivedAt.getTime() / 1000) - send;
    const offset = message.timestamp - rtt / 2 - send;
    // One-sided on purpose (§3.4): a peer clock that is behind is never refused.
    if (offset > mnet.driftThresholdSeconds) {
      throw new MnetFault(
        FaultCode.TimeDrift,
        `Time gap with ${peer.name} (${Math.round(offset)} seconds) is greater than the permitted maximum of ${mnet.driftThresholdSeconds} seconds`,
      );
    }
    return offset;
  }

  /** Records the last contact with a peer after an authenticated answer (fault or not). */
  private async touch(peer: Peer, receivedAt: Date): Promise<void> {
    await touchPeer(this.deps.db, peer, receivedAt).catch((err: unknown) =>
      this.deps.log.warn('could not record the last contact of a peer', { peer: peer.wwwroot, error: err }),
    );
  }

  private async storeNewPeerKey(peer: Peer, pem: string): Promise<Peer> {
    let cert: ParsedCertificate;
    try {
      cert = parsePeerCertificate(pem, peer.wwwroot);
    } catch (err) {
      throw new MnetFault(FaultCode.InvalidCertificate, `${peer.wwwroot} sent fault 7025 without a valid certificate for itself`, {
        cause: err,
      });
    }
    await updatePeerKey(this.deps.db, peer.id, cert.pem, cert.validTo);
    this.deps.log.info('stored a peer\'s new certificate after fault 7025', { peer: peer.wwwroot, fingerprint: cert.sha1Fingerprint });
    return (await findPeer(this.deps.db, peer.wwwroot, { includeDeleted: true }))!;
  }

  private post(url: string, body: Buffer): Promise<Buffer> {
    return postXml(url, body, { timeoutMs: this.deps.mnet.clientTimeoutMs, maxBytes: this.deps.mnet.maxResponseBytes });
  }
}

/** A plain methodResponse (faults raised before the peer could identify us come back plain, §2.3). */
function throwPlainResponse(peer: Peer, doc: XmlElement): never {
  const plain = readResponse(peer, () => decodeMethodResponse(doc));
  if ('fault' in plain) throw new MnetFault(plain.fault.code, `${peer.wwwroot}: ${plain.fault.message}`);
  throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: payload not encrypted`);
}

/** A signed fault: 7025 goes back to withRekey with the new certificate; any other is thrown. */
function rekeyOrThrow(peer: Peer, fault: { code: number; message: string }): { newKeyPem: string } {
  if (fault.code === FaultCode.OldKey) return { newKeyPem: fault.message };
  throw new MnetFault(fault.code, `${peer.wwwroot}: ${fault.message}`);
}

/** The payload of a signed fault (file-response.ts keeps it whole), decoded by the codec. */
function readFault(peer: Peer, payload: Buffer): { code: number; message: string } {
  const response = readResponse(peer, () => decodeMethodResponse(parseXml(payload, FaultCode.BadResponse)));
  if (!('fault' in response)) throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: malformed fault`);
  return response.fault;
}

/**
 * Reading a peer's answer uses the same readers as our server, whose faults (6004, 6008, …) would read as
 * if the peer had refused us; a broken answer is BadResponse, with the reader's complaint as the cause.
 */
function readResponse<T>(peer: Peer, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof MnetFault)) throw err;
    throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot} sent a malformed response: ${err.message}`, { cause: err });
  }
}

