import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import { forgetCachedPeers, peerSettingColumns, settingsFromRow, type Peer, type PeerIdentitySettings } from '../mnet/peers.js';

export type { PeerIdentitySettings } from '../mnet/peers.js';

/**
 * Mahara's admin form picks one SSO direction per instance (§9.1 `ssodirection`); it is not stored
 * itself but sets exactly one of theyssoin / wessoout. `none` (ours) turns both off.
 */
export type SsoDirection = 'theyssoin' | 'wessoout' | 'none';
export const ssoDirections: readonly SsoDirection[] = ['theyssoin', 'wessoout', 'none'];

/**
 * A change an admin asks for. The two direction flags change only through `ssoDirection`, so they can
 * never both be on.
 */
export interface PeerIdentityChange {
  ssoDirection?: SsoDirection;
  weAutoCreateUsers?: boolean;
  theyAutoCreateUsers?: boolean;
  updateUserInfoOnLogin?: boolean;
  weImportContent?: boolean;
}

type DirectionFlag = 'weAutoCreateUsers' | 'theyAutoCreateUsers' | 'updateUserInfoOnLogin' | 'weImportContent';

/** The flags each direction keeps (§9.1): the SP flags go with theyssoin, the IdP flag with wessoout. */
const flagsOf: Record<Exclude<SsoDirection, 'none'>, readonly DirectionFlag[]> = {
  theyssoin: ['weAutoCreateUsers', 'updateUserInfoOnLogin', 'weImportContent'],
  wessoout: ['theyAutoCreateUsers'],
};

export function parseSsoDirection(text: string): SsoDirection {
  if ((ssoDirections as readonly string[]).includes(text)) return text as SsoDirection;
  throw new MnetFault(FaultCode.InvalidInput, `Unknown SSO direction "${text}"; expected one of ${ssoDirections.join(', ')}`);
}

export function ssoDirectionOf(settings: PeerIdentitySettings): SsoDirection {
  if (settings.theySsoIn) return 'theyssoin';
  return settings.weSsoOut ? 'wessoout' : 'none';
}

/**
 * Mahara's form rule: choosing a direction sets its flag, clears the other direction's flag and the
 * flags that belong to the other direction. `none` clears both direction flags and keeps the rest, so
 * that e.g. SchoolTool may still create users without anyone signing on.
 */
export function applySsoDirection(settings: PeerIdentitySettings, direction: SsoDirection): PeerIdentitySettings {
  if (direction === 'none') return { ...settings, theySsoIn: false, weSsoOut: false };
  const other = direction === 'theyssoin' ? 'wessoout' : 'theyssoin';
  const cleared = Object.fromEntries(flagsOf[other].map((flag) => [flag, false]));
  return { ...settings, ...cleared, theySsoIn: direction === 'theyssoin', weSsoOut: direction === 'wessoout' };
}

export async function getPeerIdentitySettings(db: Knex, peerId: number): Promise<PeerIdentitySettings> {
  const row = await db('peers').where({ id: peerId }).first(Object.values(peerSettingColumns));
  if (!row) throw new MnetFault(FaultCode.PeerNotFound, `No peer with id ${peerId}`);
  return settingsFromRow(row);
}

/**
 * Applies the direction first, then the single flags. Turning on, in the same change, a flag that the
 * chosen direction clears is refused (InvalidInput) rather than silently dropped; nothing is written then.
 */
export async function updatePeerIdentitySettings(db: Knex, peerId: number, change: PeerIdentityChange): Promise<PeerIdentitySettings> {
  const { ssoDirection, ...flags } = change;
  if (ssoDirection !== undefined && ssoDirection !== 'none') {
    const other = ssoDirection === 'theyssoin' ? 'wessoout' : 'theyssoin';
    const clash = flagsOf[other].find((flag) => flags[flag] === true);
    if (clash) throw new MnetFault(FaultCode.InvalidInput, `${clash} belongs to SSO direction ${other}, not ${ssoDirection}`);
  }
  const settings = await db.transaction(async (trx) => {
    const row = await trx('peers').where({ id: peerId }).forUpdate().first(Object.values(peerSettingColumns));
    if (!row) throw new MnetFault(FaultCode.PeerNotFound, `No peer with id ${peerId}`);
    const current = settingsFromRow(row);
    const directed = ssoDirection === undefined ? current : applySsoDirection(current, ssoDirection);
    const defined = Object.entries(flags).filter(([, value]) => value !== undefined);
    const next: PeerIdentitySettings = { ...directed, ...Object.fromEntries(defined) };
    const values = Object.fromEntries(Object.entries(next).map(([field, value]) => [peerSettingColumns[field as keyof PeerIdentitySettings], value]));
    await trx('peers').where({ id: peerId }).update(values);
    return next;
  });
  forgetCachedPeers(db);
  return settings;
}

/**
 * Pairs two peers whose idnumbers name the same people (a SchoolTool site and the Moodle it is
 * integrated with, §10), or unpairs `peer` when `partner` is null. Symmetric: each names the other, and
 * earlier pairings of either are undone.
 */
export async function pairPeers(db: Knex, peer: Pick<Peer, 'id'>, partner: Pick<Peer, 'id'> | null): Promise<void> {
  if (partner && partner.id === peer.id) throw new MnetFault(FaultCode.InvalidInput, 'A peer cannot be paired with itself');
  const ids = partner ? [peer.id, partner.id] : [peer.id];
  await db.transaction(async (trx) => {
    await trx('peers').whereIn('paired_peer_id', ids).update({ paired_peer_id: null });
    await trx('peers').whereIn('id', ids).update({ paired_peer_id: null });
    if (partner) {
      await trx('peers').where({ id: peer.id }).update({ paired_peer_id: partner.id });
      await trx('peers').where({ id: partner.id }).update({ paired_peer_id: peer.id });
    }
  });
  forgetCachedPeers(db);
}
