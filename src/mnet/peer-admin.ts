import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import type { MnetClient } from './client.js';
import { MethodPath } from './methods.js';
import { parseCertificate } from './certificate.js';
import {
  applicationNames,
  checkPeerName,
  findPeer,
  PEER_NAME_MAX_LENGTH,
  savePeer,
  softDeletePeer,
  updatePeerKey,
  type ApplicationName,
  type Peer,
} from './peers.js';
import { trimWwwroot } from './wwwroot.js';

/** The admin's view of peers (§9.2, §9.3): register by wwwroot, verify, delete. */
export interface PeerAdminDeps {
  db: Knex;
  client: MnetClient;
  log: Logger;
  now: () => Date;
}

/**
 * What an admin types: add `http://` when the scheme is missing, drop trailing slashes (§9.2), and
 * otherwise keep it as typed. Peers compare wwwroots as strings (the signed envelope, the certificate's
 * CN), so `https://LMS.example.edu` or an explicit `:443` must not be rewritten the way URL would.
 */
export function normalisePeerWwwroot(input: string): string {
  let raw = input.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) raw = `http://${raw}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MnetFault(FaultCode.InvalidInput, `"${input}" is not a web address`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MnetFault(FaultCode.InvalidInput, `"${input}" must be an http:// or https:// address`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new MnetFault(FaultCode.InvalidInput, `"${input}" must not contain a query, fragment or credentials`);
  }
  return trimWwwroot(raw);
}

export function parseApplication(value: string): ApplicationName {
  if ((applicationNames as readonly string[]).includes(value)) return value as ApplicationName;
  throw new MnetFault(FaultCode.InvalidInput, `Unknown application "${value}"; use one of ${applicationNames.join(', ')}`);
}

async function serverPathOf(db: Knex, application: ApplicationName): Promise<string> {
  const row = await db('applications').where({ name: application }).first('xmlrpc_server_path');
  return row.xmlrpc_server_path as string;
}

/**
 * Registers a peer: plain keyswap to fetch its certificate, which must belong to the wwwroot (§5.3), then
 * store it. A soft-deleted peer with the same wwwroot is brought back with the fresh key.
 */
export async function addPeer(
  deps: PeerAdminDeps,
  input: { wwwroot: string; name?: string; application: ApplicationName },
): Promise<Peer> {
  const wwwroot = normalisePeerWwwroot(input.wwwroot);
  // Without a name the peer is called by its address, cut to what the column holds.
  const name = input.name?.trim() ? checkPeerName(input.name.trim()) : wwwroot.slice(0, PEER_NAME_MAX_LENGTH);
  if (await findPeer(deps.db, wwwroot)) {
    throw new MnetFault(FaultCode.InvalidInput, `${wwwroot} is already registered; use "peer verify" to check it`);
  }
  const cert = await deps.client.keyswap(wwwroot, await serverPathOf(deps.db, input.application));
  const peer = await savePeer(
    deps.db,
    {
      wwwroot,
      name,
      application: input.application,
      publicKeyPem: cert.pem,
      publicKeyExpires: cert.validTo,
    },
    deps.now(),
  );
  deps.log.info('registered a peer', { wwwroot, application: input.application, fingerprint: cert.sha1Fingerprint });
  return peer;
}

export interface PeerCheck {
  peer: Peer;
  /** Plain keyswap answered with a certificate for this wwwroot. */
  reachable: boolean;
  /** The certificate it answers with is the one we stored. */
  keyMatches: boolean;
  keyswapError?: string;
  /** A signed+encrypted system/listServices succeeded. */
  authenticated: boolean;
  authError?: string;
  clockOffsetSeconds?: number;
  services?: Array<{ name: string; publish: boolean; subscribe: boolean }>;
}

/** §6 notes: keyswap (reachable, key matches) plus listServices (authenticated round trip, clock offset). */
export async function verifyPeer(deps: PeerAdminDeps, wwwrootInput: string): Promise<PeerCheck> {
  const wwwroot = normalisePeerWwwroot(wwwrootInput);
  const peer = await findPeer(deps.db, wwwroot);
  if (!peer) throw new MnetFault(FaultCode.PeerNotFound, `No peer is registered for ${wwwroot}`);
  const check: PeerCheck = {
    peer,
    reachable: false,
    keyMatches: false,
    authenticated: false,
  };
  // The authenticated call first: a rotated peer answers it with fault 7025 and we store its new key,
  // so the keyswap comparison below sees what is stored now.
  try {
    const result = await deps.client.callWithDetails(peer, MethodPath.listServices, []);
    check.authenticated = true;
    check.clockOffsetSeconds = result.clockOffsetSeconds;
    check.services = Array.isArray(result.value)
      ? result.value.flatMap((s) =>
          s && typeof s === 'object' && !Array.isArray(s) && !Buffer.isBuffer(s) && typeof s.name === 'string'
            ? [{ name: s.name, publish: truthy(s.publish), subscribe: truthy(s.subscribe) }]
            : [],
        )
      : [];
  } catch (err) {
    check.authError = err instanceof Error ? err.message : String(err);
  }
  check.peer = (await findPeer(deps.db, wwwroot)) ?? peer;
  try {
    const cert = await deps.client.keyswap(peer.wwwroot, peer.xmlrpcServerPath);
    check.reachable = true;
    check.keyMatches = cert.pem === check.peer.publicKeyPem;
  } catch (err) {
    check.keyswapError = err instanceof Error ? err.message : String(err);
  }
  return check;
}

/**
 * Admin "re-fetch key" (§5.3 c): a plain keyswap, and the answer is stored if it belongs to the peer's
 * wwwroot. The admin vouches for it; the automatic paths only accept a new key signed with the old one.
 */
export async function refetchPeerKey(
  deps: PeerAdminDeps,
  wwwrootInput: string,
): Promise<{ peer: Peer; oldFingerprint: string; newFingerprint: string }> {
  const wwwroot = normalisePeerWwwroot(wwwrootInput);
  const peer = await findPeer(deps.db, wwwroot);
  if (!peer) throw new MnetFault(FaultCode.PeerNotFound, `No peer is registered for ${wwwroot}`);
  const oldFingerprint = parseCertificate(peer.publicKeyPem).sha1Fingerprint;
  const cert = await deps.client.keyswap(peer.wwwroot, peer.xmlrpcServerPath);
  if (cert.pem !== peer.publicKeyPem) {
    await updatePeerKey(deps.db, peer.id, cert.pem, cert.validTo);
    deps.log.info('re-fetched a peer key', { wwwroot, old: oldFingerprint, new: cert.sha1Fingerprint });
  }
  return { peer: (await findPeer(deps.db, wwwroot))!, oldFingerprint, newFingerprint: cert.sha1Fingerprint };
}

export async function deletePeer(deps: PeerAdminDeps, wwwrootInput: string): Promise<Peer> {
  const wwwroot = normalisePeerWwwroot(wwwrootInput);
  const peer = await findPeer(deps.db, wwwroot);
  if (!peer) throw new MnetFault(FaultCode.PeerNotFound, `No peer is registered for ${wwwroot}`);
  await softDeletePeer(deps.db, peer.id);
  deps.log.info('deleted a peer', { wwwroot });
  return peer;
}

/** PHP peers send flags as "1"/"0" strings or ints (§2.2): read them loosely. */
function truthy(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}
