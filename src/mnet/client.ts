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
import { postXml } from './http-post.js';
import { MethodPath, isSubscribedTo, type MethodRegistry } from './methods.js';
import { findPeer, touchPeer, updatePeerKey, type Peer } from './peers.js';
import { trimWwwroot } from './wwwroot.js';
import { parseXml } from './xml.js';

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

/** The one way to call a peer (style.md): sign, encrypt, post, then open and check the answer. */
export class MnetClient {
  constructor(private readonly deps: MnetClientDeps) {}

  /** Calls `method` on `peer`; returns the decoded result or throws the peer's fault as an MnetFault. */
  async call(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<XmlRpcValue> {
    return (await this.callWithDetails(peer, method, params)).value;
  }

  async callWithDetails(peer: Peer, method: string, params: readonly XmlRpcValue[]): Promise<CallResult> {
    const service = this.deps.registry.serviceOfRemoteMethod(method);
    if (service !== undefined && !isSubscribedTo(this.deps.registry, peer, service)) {
      throw new MnetFault(FaultCode.NotSubscribed, `We do not subscribe to ${service} on ${peer.wwwroot}, so we may not call ${method}`);
    }
    const first = await this.callOnce(peer, method, params);
    if (!('newKeyPem' in first)) return first;
    // §5.5: the peer rotated and told us its new certificate. Store it (only if it is really the
    // peer's) and send the same call once more in a fresh envelope; a second 7025 is not followed.
    const updated = await this.storeNewPeerKey(peer, first.newKeyPem);
    const second = await this.callOnce(updated, method, params);
    if ('newKeyPem' in second) throw new MnetFault(FaultCode.OldKey, `${peer.wwwroot} asked us to re-key twice in one call`);
    return second;
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

  private async callOnce(
    peer: Peer,
    method: string,
    params: readonly XmlRpcValue[],
  ): Promise<CallResult | { newKeyPem: string }> {
    const { keys, wwwroot, mnet, now, db } = this.deps;
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
    const body = buildEncryptedMessage({ plaintext: signed, wwwroot, recipientKey: peer.publicKey });
    const responseBody = await this.post(peer.wwwroot + peer.xmlrpcServerPath, body);
    const receivedAt = now();

    const outer = parseXml(responseBody, FaultCode.BadResponse);
    if (outer.name === 'methodResponse') {
      // Faults raised before the peer could identify us come back plain (§2.3).
      const plain = readResponse(peer, () => decodeMethodResponse(outer));
      if ('fault' in plain) throw new MnetFault(plain.fault.code, `${peer.wwwroot}: ${plain.fault.message}`);
      throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: payload not encrypted`);
    }
    if (outer.name !== 'encryptedMessage') throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: not an MNet response`);
    // A response encrypted to one of our old keys is fine (§4.3, checklist 33).
    const opened = decryptEnvelope(readResponse(peer, () => readEncryptedMessage(outer)), await keys.decryptionKeys());
    if (!opened) throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: response could not be decrypted with our keys`);
    const inner = parseXml(opened.plaintext, FaultCode.BadResponse);
    if (inner.name !== 'signedMessage') throw new MnetFault(FaultCode.BadResponse, `${peer.wwwroot}: payload not signed`);
    const message = readResponse(peer, () => readSignedMessage(inner));
    if (trimWwwroot(message.wwwroot) !== peer.wwwroot || !verifySignedMessage(message, peer.publicKey)) {
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

    const response = readResponse(peer, () => decodeMethodResponse(parseXml(message.payload, FaultCode.BadResponse)));
    await touchPeer(db, peer, receivedAt).catch((err: unknown) =>
      this.deps.log.warn('could not record the last contact of a peer', { peer: peer.wwwroot, error: err }),
    );
    if ('fault' in response) {
      if (response.fault.code === FaultCode.OldKey) return { newKeyPem: response.fault.message };
      throw new MnetFault(response.fault.code, `${peer.wwwroot}: ${response.fault.message}`);
    }
    return { value: response.value, clockOffsetSeconds: offset, roundTripMs: receivedAt.getTime() - sentAt.getTime() };
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

