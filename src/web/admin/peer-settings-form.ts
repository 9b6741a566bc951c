import type Koa from 'koa';
import type { Config } from '../../config.js';
import { ssoDirectionOf, type PeerIdentitySettings } from '../../identity/peer-settings.js';
import type { MethodRegistry } from '../../mnet/methods.js';
import { peerServiceSettings } from '../../mnet/methods.js';
import { applicationNames, PEER_NAME_MAX_LENGTH, type Peer } from '../../mnet/peers.js';
import { field } from '../guards.js';
import { html, type SafeHtml } from '../html.js';
import { csrfField, href } from '../page.js';
import { applicationLabels, peerPath } from './peer-format.js';

/** The identity flags the form shows as checkboxes; the direction flags go through ssoDirection. */
export const identityFlags = ['weImportContent', 'weAutoCreateUsers', 'theyAutoCreateUsers', 'updateUserInfoOnLogin'] as const satisfies readonly (keyof PeerIdentitySettings)[];
export type IdentityFlag = (typeof identityFlags)[number];

const flagLabels: Record<IdentityFlag, string> = {
  weImportContent: 'Import content: accept portfolio exports from this peer',
  weAutoCreateUsers: 'Auto-create users: make an account for an unknown user on their first sign-on',
  theyAutoCreateUsers: 'They auto-create users: the peer makes accounts for our users, so any of them may go there',
  updateUserInfoOnLogin: 'Update user info on login: refresh names, email and ID number at every sign-on',
};

const directionLabels = {
  theyssoin: 'Their users sign on here (theyssoin: we are the service provider)',
  wessoout: 'Our users sign on there (wessoout: we are the identity provider)',
  none: 'No single sign-on (none)',
} as const;

/** What the settings form shows: the peer's current settings, or what the admin typed before an error. */
export interface SettingsValues {
  name: string;
  application: string;
  publish: ReadonlySet<string>;
  subscribe: ReadonlySet<string>;
  ssoDirection: string;
  flags: Record<IdentityFlag, boolean>;
  /** The partner's peers.id, or '' for none. */
  pairWith: string;
}

export function settingsOfPeer(registry: MethodRegistry, peer: Peer): SettingsValues {
  const services = peerServiceSettings(registry, peer);
  return {
    name: peer.name,
    application: peer.application,
    publish: new Set(services.filter((s) => s.publish).map((s) => s.service)),
    subscribe: new Set(services.filter((s) => s.subscribe).map((s) => s.service)),
    ssoDirection: ssoDirectionOf(peer.settings),
    flags: Object.fromEntries(identityFlags.map((f) => [f, peer.settings[f]])) as Record<IdentityFlag, boolean>,
    pairWith: peer.pairedPeerId === null ? '' : String(peer.pairedPeerId),
  };
}

/** A posted form as values; unchecked checkboxes are simply absent, so absent means off. */
export function settingsOfForm(form: URLSearchParams): SettingsValues {
  return {
    name: field(form, 'name'),
    application: field(form, 'application'),
    publish: new Set(form.getAll('publish')),
    subscribe: new Set(form.getAll('subscribe')),
    ssoDirection: field(form, 'ssoDirection'),
    flags: Object.fromEntries(identityFlags.map((f) => [f, form.get(f) === '1'])) as Record<IdentityFlag, boolean>,
    pairWith: field(form, 'pairWith'),
  };
}

function checkbox(id: string, name: string, value: string, checked: boolean, label: string): SafeHtml {
  return html`<label for="${id}"><input type="checkbox" id="${id}" name="${name}" value="${value}"${checked ? html` checked` : ''}> ${label}</label>`;
}

function option(value: string, label: string, selected: string): SafeHtml {
  return html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
}

/**
 * One form for everything `peer edit` changes: name, application, the MNet services (§7.1) and the
 * identity settings (§9.1), and the SchoolTool pairing (§10). `partners` are the peers it may be paired with.
 */
export function settingsForm(ctx: Koa.Context, config: Config, registry: MethodRegistry, peer: Peer, values: SettingsValues, partners: readonly Peer[]): SafeHtml {
  const services = peerServiceSettings(registry, peer).map((s) => {
    const description = registry.service(s.service)?.description ?? '';
    return html`<tr>
<td>${s.service}${s.explicit ? '' : html` <span class="muted">(default)</span>`}<br><span class="muted">${description}</span></td>
<td>${checkbox(`publish-${s.service}`, 'publish', s.service, values.publish.has(s.service), 'Publish')}</td>
<td>${checkbox(`subscribe-${s.service}`, 'subscribe', s.service, values.subscribe.has(s.service), 'Subscribe')}</td>
</tr>`;
  });
  const directions = Object.entries(directionLabels).map(([value, label]) => option(value, label, values.ssoDirection));
  const pairings = [option('', 'Not paired', values.pairWith), ...partners.map((p) => option(String(p.id), `${p.name} (${p.wwwroot})`, values.pairWith))];
  return html`<form method="post" action="${href(config, peerPath(peer, 'settings'))}" class="stacked" aria-labelledby="settings">
${csrfField(ctx)}
<div><label for="name">Name</label><input type="text" id="name" name="name" value="${values.name}" maxlength="${PEER_NAME_MAX_LENGTH}" required></div>
<div><label for="application">Application</label><select id="application" name="application">${applicationNames.map((a) => option(a, applicationLabels[a], values.application))}</select></div>
<fieldset><legend>MNet services</legend>
<div class="table-wrap"><table>
<caption>Publish: this peer may call our methods of the service. Subscribe: we call the peer's.</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Publish</th><th scope="col">Subscribe</th></tr></thead>
<tbody>${services}</tbody>
</table></div>
</fieldset>
<fieldset><legend>Single sign-on and users</legend>
<div><label for="ssoDirection">SSO direction</label><select id="ssoDirection" name="ssoDirection">${directions}</select></div>
${identityFlags.map((f) => html`<div>${checkbox(f, f, '1', values.flags[f], flagLabels[f])}</div>`)}
</fieldset>
<div><label for="pairWith">Paired with (SchoolTool)</label><select id="pairWith" name="pairWith">${pairings}</select>
<p class="muted">Pair a SchoolTool site with the Moodle it works with: only paired peers' users are linked by ID number.</p></div>
<div><button type="submit">Save settings</button></div>
</form>`;
}
