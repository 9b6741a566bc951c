import type Router from '@koa/router';
import { deletePeer, refetchPeerKey, verifyPeer, type PeerCheck } from '../../mnet/peer-admin.js';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { html } from '../html.js';
import { flash, href, postButton, redirectTo, renderPage } from '../page.js';
import { adminDeps, refusalOf } from './peer-admin-deps.js';
import { peerFromParam, peerPath } from './peer-format.js';

/** The outcome of `peer verify` in one message, failures included as the admin needs to read them. */
function describeCheck(check: PeerCheck): string {
  const ok = check.reachable && check.keyMatches && check.authenticated;
  const parts = [
    `reachable (keyswap): ${check.reachable ? 'yes' : `no: ${check.keyswapError}`}`,
    ...(check.reachable ? [`key matches the stored key: ${check.keyMatches ? 'yes' : 'NO, the peer answers with another certificate (Fetch key again stores it)'}`] : []),
    `authenticated call: ${check.authenticated ? 'yes' : `no: ${check.authError}`}`,
    ...(check.clockOffsetSeconds !== undefined ? [`clock offset ${check.clockOffsetSeconds.toFixed(1)} s`] : []),
  ];
  return `${check.peer.wwwroot}: ${ok ? 'verified' : 'verification failed'}. ${parts.join('; ')}.`;
}

/** Verify, re-fetch the key, delete: each a POST that ends in a flash message on the peer's pages. */
export function mountPeerActions(router: Router, services: Services, guards: Guards): void {
  const { config } = services;

  router.post('/admin/peers/:id/verify', guards.admin, guards.form, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    const check = await verifyPeer(adminDeps(services), peer.wwwroot);
    services.log.info('verified a peer from the admin pages', { wwwroot: peer.wwwroot, reachable: check.reachable, authenticated: check.authenticated });
    flash(ctx, config, describeCheck(check));
    redirectTo(ctx, config, peerPath(peer));
  });

  router.post('/admin/peers/:id/rekey', guards.admin, guards.form, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    let message: string;
    try {
      const result = await refetchPeerKey(adminDeps(services), peer.wwwroot);
      message =
        result.oldFingerprint === result.newFingerprint
          ? `${peer.wwwroot} still has the same key (SHA-1 ${result.newFingerprint}).`
          : `Stored the new key of ${peer.wwwroot} (SHA-1 ${result.newFingerprint}; it was ${result.oldFingerprint}).`;
    } catch (err) {
      message = `Could not fetch the key of ${peer.wwwroot}: ${refusalOf(err)}`;
    }
    flash(ctx, config, message);
    redirectTo(ctx, config, peerPath(peer));
  });

  router.get('/admin/peers/:id/delete', guards.admin, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    renderPage(ctx, config, {
      title: `Delete peer ${peer.name}?`,
      body: html`<p>Really delete ${peer.name} (${peer.wwwroot})? It can no longer call us: its users cannot sign on and it cannot send portfolios. Its users and their content stay. You can restore it by adding its web address again.</p>
<div>${postButton(ctx, href(config, peerPath(peer, 'delete')), 'Delete', { danger: true })} <a href="${href(config, peerPath(peer))}">Cancel</a></div>`,
    });
  });

  router.post('/admin/peers/:id/delete', guards.admin, guards.form, async (ctx) => {
    const peer = await peerFromParam(services, ctx.params.id);
    await deletePeer(adminDeps(services), peer.wwwroot);
    flash(ctx, config, `Deleted ${peer.name} (${peer.wwwroot}); it can no longer call us. Add it again to restore it.`);
    redirectTo(ctx, config, '/admin/peers/');
  });
}
