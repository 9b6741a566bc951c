import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { listPeers, type Peer } from '../../mnet/peers.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { timeOf } from '../format.js';
import { html } from '../html.js';
import { flash, href, pageState, postButton, redirectTo, renderPage } from '../page.js';
import { refusalOf } from './peer-admin-deps.js';
import { applicationLabels, expiryText, fingerprintsOf, lastContactText, peerFromParam, peerPath } from './peer-format.js';
import { settingsForm, settingsOfForm, settingsOfPeer, type SettingsValues } from './peer-settings-form.js';
import { savePeerSettings } from './peer-settings-save.js';

/** One peer: what we know of it (`peer show`), its actions, and its settings form (`peer edit`). */
export function mountPeerDetail(router: Router, services: Services, guards: Guards): void {
  const { config } = services;

  /** The peers this one may be paired with: any other live peer. */
  async function partnersOf(peer: Peer): Promise<Peer[]> {
    return (await listPeers(services.db)).filter((p) => p.id !== peer.id);
  }

  async function detailPage(ctx: Koa.Context, peer: Peer, values: SettingsValues, error?: string): Promise<void> {
    const key = fingerprintsOf(peer.publicKeyPem);
    const actions = html`<div>
${postButton(ctx, href(config, peerPath(peer, 'verify')), 'Verify')}
${postButton(ctx, href(config, peerPath(peer, 'rekey')), 'Fetch key again')}
<form method="get" action="${href(config, peerPath(peer, 'delete'))}" class="inline"><button type="submit" class="danger">Delete</button></form>
</div>
<p class="muted">Verify fetches the peer's certificate (keyswap), compares it with the stored one and makes one signed and encrypted call (system/listServices). Fetch key again stores the certificate the peer answers with now, after it changed its key.</p>`;
    const settings = peer.deleted
      ? ''
      : html`<h2 id="settings">Settings</h2>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${settingsForm(ctx, config, services.registry, peer, values, await partnersOf(peer))}`;
    renderPage(ctx, config, {
      title: `Peer ${peer.name}`,
      status: error ? 400 : 200,
      body: html`${peer.deleted ? html`<p class="error" role="alert">This peer is deleted: it can no longer call us. Add its web address again on the peers page to restore it.</p>` : ''}
<dl>
<dt>Name</dt><dd>${peer.name}</dd>
<dt>Web address</dt><dd>${peer.wwwroot}</dd>
<dt>Application</dt><dd>${applicationLabels[peer.application]}</dd>
<dt>MNet endpoint</dt><dd>${peer.wwwroot}${peer.xmlrpcServerPath}</dd>
<dt>Last contact</dt><dd>${lastContactText(peer)}</dd>
<dt>Key</dt><dd>${expiryText(peer.publicKeyExpires, services.now())}</dd>
<dt>Key fingerprint (SHA-1)</dt><dd>${key.sha1}</dd>
<dt>Key fingerprint (SHA-256)</dt><dd>${key.sha256}</dd>
<dt>Registered</dt><dd>${timeOf(peer.createdAt)}</dd>
</dl>
${peer.deleted ? '' : actions}
${settings}
<p><a href="${href(config, '/admin/peers/')}">Back to the list of peers</a></p>`,
    });
  }

  router.get('/admin/peers/:id', guards.admin, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    await detailPage(ctx, peer, settingsOfPeer(services.registry, peer));
  });

  router.post('/admin/peers/:id/settings', guards.admin, guards.form, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    if (peer.deleted) throw new MnetFault(FaultCode.InvalidInput, 'This peer is deleted. Add it again before changing its settings.');
    const values = settingsOfForm(pageState(ctx).form!);
    let changed: boolean;
    try {
      changed = await savePeerSettings(services, peer, values, await partnersOf(peer));
    } catch (err) {
      await detailPage(ctx, peer, values, refusalOf(err));
      return;
    }
    flash(ctx, config, changed ? `Saved the settings of ${values.name}.` : 'Nothing changed.');
    redirectTo(ctx, config, peerPath(peer));
  });
}
