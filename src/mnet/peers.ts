import type crypto from 'node:crypto';
import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import { parseCertificate } from './certificate.js';
import { trimWwwroot } from './wwwroot.js';

export type ApplicationName = 'moodle' | 'mahara' | 'schooltool';
export const applicationNames: readonly ApplicationName[] = ['moodle', 'mahara', 'schooltool'];

/** A remote site we talk MNet with (§9.1 `host` joined with its `application`). */
export interface Peer {
  readonly id: number;
  readonly wwwroot: string;
  readonly name: string;
  readonly application: ApplicationName;
  readonly publicKeyPem: string;
  readonly publicKey: crypto.KeyObject;
  readonly publicKeyExpires: Date;
  readonly deleted: boolean;
  readonly createdAt: Date;
  readonly lastConnectAt: Date | null;
  /** Path of the peer's XML-RPC endpoint, appended to its wwwroot (§1.1). */
  readonly xmlrpcServerPath: string;
  readonly ssoLandPath: string;
  /** Explicit per-service settings an admin made for this peer (§7.1); absent services use their defaults. */
  readonly services: ReadonlyMap<string, { readonly publish: boolean; readonly subscribe: boolean }>;
  /** Identity flags (§9.1), read with the peer so that SSO and portfolio calls need no extra query. */
  readonly settings: PeerIdentitySettings;
  /** The peer an admin paired this one with (a SchoolTool site and its Moodle), whose idnumbers are shared. */
  readonly pairedPeerId: number | null;
}

/**
 * Mahara's per-instance auth_instance_config flags for an xmlrpc instance (§9.1), stored as columns of
 * `peers`; src/identity/peer-settings.ts changes them. A missing Mahara config row means 0, so all default to false.
 */
export interface PeerIdentitySettings {
  /** We are SP: this peer's users may SSO in. */
  readonly theySsoIn: boolean;
  /** We are IdP: our users may SSO out to this peer. */
  readonly weSsoOut: boolean;
  /** SP: create unknown users on their first landing. */
  readonly weAutoCreateUsers: boolean;
  /** IdP: the peer creates accounts for our users, so any of our users may jump there. */
  readonly theyAutoCreateUsers: boolean;
  /** SP: refresh names, email and idnumber on every landing. */
  readonly updateUserInfoOnLogin: boolean;
  /** SP: accept portfolio content from this peer. */
  readonly weImportContent: boolean;
}

/** Column of `peers` for each identity flag. */
export const peerSettingColumns = {
  theySsoIn: 'they_sso_in',
  weSsoOut: 'we_sso_out',
  weAutoCreateUsers: 'we_auto_create_users',
  theyAutoCreateUsers: 'they_auto_create_users',
  updateUserInfoOnLogin: 'update_user_info_on_login',
  weImportContent: 'we_import_content',
} as const satisfies Record<keyof PeerIdentitySettings, string>;

type PeerSettingColumn = (typeof peerSettingColumns)[keyof PeerIdentitySettings];

interface PeerRow {
  id: number;
  wwwroot: string;
  name: string;
  application: ApplicationName;
  public_key_pem: string;
  public_key_expires: Date;
  deleted: boolean;
  created_at: Date;
  last_connect_at: Date | null;
  paired_peer_id: number | null;
  xmlrpc_server_path: string;
  sso_land_path: string;
}

type PeerRowWithSettings = PeerRow & Record<PeerSettingColumn, boolean>;

// Parsing a certificate costs more than the whole database lookup; peers' keys change rarely.
const keyCache = new Map<string, crypto.KeyObject>();

function publicKeyOf(pem: string): crypto.KeyObject {
  let key = keyCache.get(pem);
  if (!key) {
    key = parseCertificate(pem).publicKey;
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(pem, key);
  }
  return key;
}

interface ServiceRow {
  peer_id: number;
  service: string;
  publish: boolean;
  subscribe: boolean;
}

function toPeer(row: PeerRowWithSettings, services: ServiceRow[]): Peer {
  return {
    id: row.id,
    wwwroot: row.wwwroot,
    name: row.name,
    application: row.application,
    publicKeyPem: row.public_key_pem,
    publicKey: publicKeyOf(row.public_key_pem),
    publicKeyExpires: new Date(row.public_key_expires),
    deleted: row.deleted,
    createdAt: new Date(row.created_at),
    lastConnectAt: row.last_connect_at ? new Date(row.last_connect_at) : null,
    xmlrpcServerPath: row.xmlrpc_server_path,
    ssoLandPath: row.sso_land_path,
    services: new Map(
      services.filter((s) => s.peer_id === row.id).map((s) => [s.service, { publish: s.publish, subscribe: s.subscribe }]),
    ),
    settings: settingsFromRow(row),
    pairedPeerId: row.paired_peer_id,
  };
}

/** Reads the identity flags from a `peers` row. */
export function settingsFromRow(row: Record<PeerSettingColumn, boolean>): PeerIdentitySettings {
  const entries = Object.entries(peerSettingColumns).map(([field, column]) => [field, row[column]]);
  return Object.fromEntries(entries) as unknown as PeerIdentitySettings;
}

async function withServices(db: Knex, rows: PeerRowWithSettings[]): Promise<Peer[]> {
  if (rows.length === 0) return [];
  const services: ServiceRow[] = await db('peer_services').whereIn(
    'peer_id',
    rows.map((r) => r.id),
  );
  return rows.map((row) => toPeer(row, services));
}

/**
 * Every MNet request needs its caller's record; on embedded PGlite a query costs about as much as one of
 * the call's RSA operations (bench/mnet-calls.ts). So known peers are cached per database for a few
 * seconds. Writes made through this module clear the cache at once; writes by another instance sharing a
 * PostgreSQL database show here within PEER_CACHE_MS. Misses are not cached, so unknown callers cannot
 * grow it.
 */
const PEER_CACHE_MS = 5_000;
interface PeerCache {
  /** Bumped by every write, so a read that started before it cannot store what it saw. */
  generation: number;
  entries: Map<string, { peer: Peer; at: number }>;
}
const peerCaches = new WeakMap<Knex, PeerCache>();

function peerCacheOf(db: Knex): PeerCache {
  let cache = peerCaches.get(db);
  if (!cache) peerCaches.set(db, (cache = { generation: 0, entries: new Map() }));
  return cache;
}

/** Forgets cached peers after a change to peers or their service settings. */
export function forgetCachedPeers(db: Knex): void {
  const cache = peerCacheOf(db);
  cache.generation++;
  cache.entries.clear();
}

function selectPeers(db: Knex) {
  return db<PeerRowWithSettings>('peers')
    .join('applications', 'applications.name', 'peers.application')
    .select('peers.*', 'applications.xmlrpc_server_path', 'applications.sso_land_path');
}

/** Finds a peer by wwwroot; deleted peers only when asked, because a deleted peer may not call us. */
export async function findPeer(db: Knex, wwwroot: string, options: { includeDeleted?: boolean } = {}): Promise<Peer | undefined> {
  const key = trimWwwroot(wwwroot);
  const cache = peerCacheOf(db);
  const hit = options.includeDeleted ? undefined : cache.entries.get(key);
  if (hit && Date.now() - hit.at < PEER_CACHE_MS) return hit.peer;
  const generation = cache.generation;
  const query = selectPeers(db).where('peers.wwwroot', key);
  if (!options.includeDeleted) query.where('peers.deleted', false);
  const row = await query.first();
  const [peer] = await withServices(db, row ? [row] : []);
  if (peer && !peer.deleted && generation === cache.generation) cache.entries.set(key, { peer, at: Date.now() });
  return peer;
}

/** Like findPeer, but a missing peer is an error the CLI and admin pages can show. */
export async function getPeer(db: Knex, wwwroot: string): Promise<Peer> {
  const peer = await findPeer(db, wwwroot);
  if (!peer) throw new MnetFault(FaultCode.PeerNotFound, `No peer is registered for ${trimWwwroot(wwwroot)}`);
  return peer;
}

export async function listPeers(db: Knex, options: { includeDeleted?: boolean } = {}): Promise<Peer[]> {
  const query = selectPeers(db).orderBy('peers.wwwroot');
  if (!options.includeDeleted) query.where('peers.deleted', false);
  return withServices(db, await query);
}

export interface NewPeer {
  wwwroot: string;
  name: string;
  application: ApplicationName;
  publicKeyPem: string;
  publicKeyExpires: Date;
}

/** Inserts a peer, or revives a soft-deleted one with the same wwwroot (its history stays attached). */
export async function savePeer(db: Knex, peer: NewPeer, now: Date): Promise<Peer> {
  const values = {
    name: peer.name,
    application: peer.application,
    public_key_pem: peer.publicKeyPem,
    public_key_expires: peer.publicKeyExpires,
    deleted: false,
  };
  await db('peers')
    .insert({ wwwroot: trimWwwroot(peer.wwwroot), created_at: now, ...values })
    .onConflict('wwwroot')
    .merge(values);
  forgetCachedPeers(db);
  return (await findPeer(db, peer.wwwroot))!;
}

/**
 * Registers a peer only if no peer (deleted or not) has this wwwroot; never touches an existing row.
 * For promiscuous keyswap (§5.4), where the caller is unauthenticated: two racing calls cannot make the
 * second replace the first's key. Returns whether a row was inserted.
 */
export async function insertPeerIfAbsent(db: Knex, peer: NewPeer, now: Date): Promise<boolean> {
  const inserted = await db('peers')
    .insert({
      wwwroot: trimWwwroot(peer.wwwroot),
      name: peer.name,
      application: peer.application,
      public_key_pem: peer.publicKeyPem,
      public_key_expires: peer.publicKeyExpires,
      created_at: now,
    })
    .onConflict('wwwroot')
    .ignore()
    .returning('id');
  forgetCachedPeers(db);
  return inserted.length > 0;
}

/** Stores a peer's new certificate (after a 7025 answer or an admin re-fetch, §5.3). */
export async function updatePeerKey(db: Knex, peerId: number, pem: string, expires: Date): Promise<void> {
  await db('peers').where({ id: peerId }).update({ public_key_pem: pem, public_key_expires: expires });
  forgetCachedPeers(db);
}

/** peers.name is varchar(80) (migration 0001). */
export const PEER_NAME_MAX_LENGTH = 80;

/** Refuses a name the column cannot hold, in words, before the database would refuse it with an error. */
export function checkPeerName(name: string): string {
  if (name.trim() === '') throw new MnetFault(FaultCode.InvalidInput, 'A peer needs a name.');
  if (name.length > PEER_NAME_MAX_LENGTH) throw new MnetFault(FaultCode.InvalidInput, `A peer's name may have at most ${PEER_NAME_MAX_LENGTH} characters.`);
  return name;
}

export async function updatePeerSettings(
  db: Knex,
  peerId: number,
  settings: { name?: string; application?: ApplicationName },
): Promise<void> {
  if (Object.keys(settings).length === 0) return;
  if (settings.name !== undefined) checkPeerName(settings.name);
  await db('peers').where({ id: peerId }).update(settings);
  forgetCachedPeers(db);
}

/** When this process last wrote each peer's last_connect_at, per database. */
const lastTouches = new WeakMap<Knex, Map<number, number>>();

/**
 * Records a successful exchange, at most once a minute per peer, so the hot path does not turn every
 * call into a write. The throttle is kept here rather than read from the caller's Peer, which may be a
 * long-lived copy (a client holding one for many calls).
 */
export async function touchPeer(db: Knex, peer: Peer, now: Date): Promise<void> {
  let touches = lastTouches.get(db);
  if (!touches) lastTouches.set(db, (touches = new Map()));
  const last = touches.get(peer.id) ?? peer.lastConnectAt?.getTime() ?? 0;
  if (now.getTime() - last < 60_000) return;
  touches.set(peer.id, now.getTime());
  await db('peers').where({ id: peer.id }).update({ last_connect_at: now });
  forgetCachedPeers(db);
}

export async function softDeletePeer(db: Knex, peerId: number): Promise<void> {
  await db('peers').where({ id: peerId }).update({ deleted: true });
  forgetCachedPeers(db);
}
