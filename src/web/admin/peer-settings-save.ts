import { FaultCode, MnetFault } from '../../errors.js';
import { pairPeers, parseSsoDirection, ssoDirectionOf, updatePeerIdentitySettings, type PeerIdentityChange } from '../../identity/peer-settings.js';
import { peerServiceSettings, setPeerService } from '../../mnet/methods.js';
import { parseApplication } from '../../mnet/peer-admin.js';
import { checkPeerName, getPeer, updatePeerSettings, type Peer } from '../../mnet/peers.js';
import type { Services } from '../../services.js';
import { identityFlags, type SettingsValues } from './peer-settings-form.js';

/**
 * Applies the settings form the way `peer edit` applies its options, but only what the admin changed
 * against `peer` as the form showed it. That keeps untouched services on their defaults (so a later
 * change of application still moves them) and does not resend an unchanged SSO direction, which would
 * clear flags the admin did not touch (identity/peer-settings.ts applySsoDirection).
 * Returns whether anything changed; an InvalidInput refusal means nothing was written.
 */
export async function savePeerSettings(services: Services, peer: Peer, values: SettingsValues, partners: readonly Peer[]): Promise<boolean> {
  const { db, registry } = services;
  // Check every field before writing anything, as `peer edit` does.
  checkPeerName(values.name);
  const application = parseApplication(values.application);
  const direction = parseSsoDirection(values.ssoDirection);
  const partner = values.pairWith === '' ? null : partners.find((p) => String(p.id) === values.pairWith);
  if (partner === undefined) throw new MnetFault(FaultCode.InvalidInput, 'Choose the peer to pair with from the list.');

  const identity: PeerIdentityChange = direction === ssoDirectionOf(peer.settings) ? {} : { ssoDirection: direction };
  for (const flag of identityFlags) if (values.flags[flag] !== peer.settings[flag]) identity[flag] = values.flags[flag];
  const serviceChanges = peerServiceSettings(registry, peer).flatMap((s) => {
    const change = {
      ...(values.publish.has(s.service) !== s.publish ? { publish: values.publish.has(s.service) } : {}),
      ...(values.subscribe.has(s.service) !== s.subscribe ? { subscribe: values.subscribe.has(s.service) } : {}),
    };
    return Object.keys(change).length > 0 ? [{ service: s.service, change }] : [];
  });
  const pairingChanged = (partner?.id ?? null) !== peer.pairedPeerId;
  const renamed = values.name !== peer.name;
  const moved = application !== peer.application;

  // First, because it refuses a flag that contradicts the chosen direction before anything is written.
  if (Object.keys(identity).length > 0) await updatePeerIdentitySettings(db, peer.id, identity);
  await updatePeerSettings(db, peer.id, { ...(renamed ? { name: values.name } : {}), ...(moved ? { application } : {}) });
  if (pairingChanged) await pairPeers(db, peer, partner);
  // Re-read before each change: the flag not being changed is kept from the current state.
  for (const { service, change } of serviceChanges) await setPeerService(db, registry, await getPeer(db, peer.wwwroot), service, change);
  return Object.keys(identity).length > 0 || renamed || moved || pairingChanged || serviceChanges.length > 0;
}
