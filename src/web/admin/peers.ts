import type Router from '@koa/router';
import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { addPeer, parseApplication } from '../../mnet/peer-admin.js';
import { applicationNames, listPeers, PEER_NAME_MAX_LENGTH, type Peer } from '../../mnet/peers.js';
import type { Services } from '../../services.js';
import { field, type Guards } from '../guards.js';
import { html } from '../html.js';
import { csrfField, flash, href, pageState, redirectTo, renderPage } from '../page.js';
import { mountAdminKeys } from './keys.js';
import { applicationLabels, expiryText, lastContactText, peerPath } from './peer-format.js';
import { mountPeerActions } from './peer-actions.js';
import { mountPeerDetail } from './peer-detail.js';
import { adminDeps, refusalOf } from './peer-admin-deps.js';

interface AddPeerValues {
  wwwroot: string;
  name: string;
  application: string;
}

/**
 * The MNet peers of this site (§9.2, §9.3) and our own key: what `npm run cli -- peer …` and `keys …`
 * do, as pages. The list and the "add" form live here; the rest in the modules mounted below.
 */
export function mountAdminPeers(router: Router, services: Services, guards: Guards): void {
  const { config } = services;

  async function listPage(ctx: Koa.Context, added: AddPeerValues, error?: string): Promise<void> {
    const all = ctx.query.all === '1';
    const peers = await listPeers(services.db, { includeDeleted: all });
    const now = services.now();
    const row = (p: Peer) => html`<tr>
<td><a href="${href(config, peerPath(p))}">${p.name}</a>${p.deleted ? html` <strong>(deleted)</strong>` : ''}</td>
<td>${p.wwwroot}</td>
<td>${applicationLabels[p.application]}</td>
<td>${lastContactText(p)}</td>
<td>${expiryText(p.publicKeyExpires, now)}</td>
</tr>`;
    const table =
      peers.length === 0
        ? html`<p>No peers are registered yet. Add your Moodle site below.</p>`
        : html`<div class="table-wrap"><table>
<caption>Registered peers${all ? ', deleted ones included' : ''}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Web address</th><th scope="col">Application</th><th scope="col">Last contact</th><th scope="col">Key</th></tr></thead>
<tbody>${peers.map(row)}</tbody>
</table></div>`;
    const options = applicationNames.map(
      (a) => html`<option value="${a}"${a === added.application ? html` selected` : ''}>${applicationLabels[a]}</option>`,
    );
    renderPage(ctx, config, {
      title: 'Peers',
      status: error ? 400 : 200,
      body: html`<p>Sites this one talks to over Moodle Networking. <a href="${href(config, '/admin/keys/')}">Our key</a> is what they need from us.</p>
${table}
<p>${all ? html`<a href="${href(config, '/admin/peers/')}">Hide deleted peers</a>` : html`<a href="${href(config, '/admin/peers/', { all: 1 })}">Show deleted peers too</a>`}</p>
<h2 id="add">Add a peer</h2>
<p class="muted">We fetch the peer's certificate from its web address (keyswap), so the site must be reachable from here.</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="${href(config, '/admin/peers/')}" class="stacked" aria-labelledby="add">
${csrfField(ctx)}
<div><label for="wwwroot">Web address (wwwroot)</label><input type="url" id="wwwroot" name="wwwroot" value="${added.wwwroot}" placeholder="https://moodle.example.edu" required></div>
<div><label for="name">Name (optional)</label><input type="text" id="name" name="name" value="${added.name}" maxlength="${PEER_NAME_MAX_LENGTH}"></div>
<div><label for="application">Application</label><select id="application" name="application">${options}</select></div>
<div><button type="submit">Add peer</button></div>
</form>`,
    });
  }

  router.get('/admin/peers/', guards.admin, (ctx) => listPage(ctx, { wwwroot: '', name: '', application: 'moodle' }));

  router.post('/admin/peers/', guards.admin, guards.form, async (ctx) => {
    const form = pageState(ctx).form!;
    const values = { wwwroot: field(form, 'wwwroot'), name: field(form, 'name'), application: field(form, 'application') };
    let peer: Peer;
    try {
      if (values.wwwroot === '') throw new MnetFault(FaultCode.InvalidInput, 'Enter the web address of the peer, e.g. https://moodle.example.edu');
      peer = await addPeer(adminDeps(services), { wwwroot: values.wwwroot, name: values.name, application: parseApplication(values.application) });
    } catch (err) {
      // Unreachable, a bad certificate, already registered: the admin can fix these, so the form comes back.
      const refusal = refusalOf(err);
      services.log.info('adding a peer failed', { wwwroot: values.wwwroot, reason: refusal });
      await listPage(ctx, values, refusal);
      return;
    }
    flash(ctx, config, `Registered ${peer.wwwroot} as "${peer.name}". Check its settings below, then verify it.`);
    redirectTo(ctx, config, peerPath(peer));
  });

  mountPeerDetail(router, services, guards);
  mountPeerActions(router, services, guards);
  mountAdminKeys(router, services, guards);
}
