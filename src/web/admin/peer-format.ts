import crypto from 'node:crypto';
import { FaultCode, MnetFault } from '../../errors.js';
import { parseCertificate } from '../../mnet/certificate.js';
import { listPeers, type ApplicationName, type Peer } from '../../mnet/peers.js';
import type { Services } from '../../services.js';
import { parseId, timeOf } from '../format.js';
import { html, type SafeHtml } from '../html.js';

/** How the peer and key pages show times, application names and certificates. */

export const applicationLabels: Record<ApplicationName, string> = { moodle: 'Moodle', mahara: 'Mahara', schooltool: 'SchoolTool' };

/** A certificate's expiry as words an admin acts on: "expired on …" or "expires in N days (…)". */
export function expiryText(expires: Date, now: Date): SafeHtml {
  const left = expires.getTime() - now.getTime();
  if (left <= 0) return html`expired on ${timeOf(expires)}`;
  const days = Math.floor(left / 86_400_000);
  const inWords = days === 0 ? 'less than a day' : days === 1 ? '1 day' : `${days} days`;
  return html`expires in ${inWords} (${timeOf(expires)})`;
}

export function lastContactText(peer: Peer): SafeHtml {
  return peer.lastConnectAt ? timeOf(peer.lastConnectAt) : html`never`;
}

/**
 * Both fingerprints of a certificate: SHA-1 is what Moodle and Mahara show on their peer pages (§5.3),
 * SHA-256 what an admin comparing over another channel should prefer.
 */
export function fingerprintsOf(pem: string): { sha1: string; sha256: string } {
  return { sha1: parseCertificate(pem).sha1Fingerprint, sha256: new crypto.X509Certificate(pem).fingerprint256 };
}

/**
 * The peer named by a URL's `:id` (the numeric peers.id), deleted ones included so that `?all=1` links
 * work. Anything else is 404: ids are parsed strictly so `1abc` or `01x` never match a peer.
 */
export async function peerFromParam(services: Services, param: string | undefined): Promise<Peer> {
  const id = parseId(param);
  const peer = id === undefined ? undefined : (await listPeers(services.db, { includeDeleted: true })).find((p) => p.id === id);
  if (!peer) throw new MnetFault(FaultCode.NotFound, 'There is no such peer. It may have been removed; see the list of peers.');
  return peer;
}

export function peerPath(peer: Pick<Peer, 'id'>, action?: string): string {
  return `/admin/peers/${peer.id}${action ? `/${action}` : ''}`;
}
