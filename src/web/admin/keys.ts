import type Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { MNET_SERVER_PATH, PUBLIC_KEY_PATH } from '../mnet-paths.js';
import { html } from '../html.js';
import { flash, href, postButton, redirectTo, renderPage } from '../page.js';
import { expiryText, fingerprintsOf } from './peer-format.js';

/** Our own key pair (`keys show`, `keys rotate`): what a Moodle admin needs to add this site. */
export function mountAdminKeys(router: Router, services: Services, guards: Guards): void {
  const { config, keys } = services;

  router.get('/admin/keys/', guards.admin, async (ctx) => {
    const current = await keys.current();
    const retired = (await keys.decryptionKeys()).length - 1;
    const fingerprints = fingerprintsOf(current.certificatePem);
    renderPage(ctx, config, {
      title: 'Our key',
      body: html`<dl>
<dt>Our web address (wwwroot)</dt><dd>${config.wwwroot}</dd>
<dt>MNet endpoint</dt><dd>${config.wwwroot}${MNET_SERVER_PATH}</dd>
<dt>Fingerprint (SHA-1)</dt><dd>${fingerprints.sha1}</dd>
<dt>Fingerprint (SHA-256)</dt><dd>${fingerprints.sha256}</dd>
<dt>Expiry</dt><dd>${expiryText(current.expires, services.now())}</dd>
<dt>Old keys kept for decryption</dt><dd>${retired}</dd>
</dl>
<h2>How to add this site in Moodle</h2>
<p>In Moodle, go to Site administration → Networking → Manage peers, enter our web address <strong>${config.wwwroot}</strong>, choose the application type <strong>Mahara</strong> and save. Moodle fetches our key itself; compare the SHA-1 fingerprint it shows with the one above. Then add the Moodle site here on the <a href="${href(config, '/admin/peers/')}">peers page</a>.</p>
<h2>Certificate</h2>
<p>If a peer asks for our certificate, paste this, or <a href="${href(config, PUBLIC_KEY_PATH)}">download the certificate as plain text</a>.</p>
<pre>${current.certificatePem}</pre>
<h2>Rotate the key</h2>
<p>The key is renewed by itself when it expires. Rotate it now if the private key may have leaked. Peers learn the new certificate on their next call (fault 7025); the old pair still opens their requests.</p>
<form method="get" action="${href(config, '/admin/keys/rotate')}" class="inline"><button type="submit" class="danger">Rotate key now</button></form>`,
    });
  });

  router.get('/admin/keys/rotate', guards.admin, async (ctx) => {
    const current = await keys.current();
    renderPage(ctx, config, {
      title: 'Rotate our key now?',
      body: html`<p>Really retire our key pair (SHA-1 ${current.sha1Fingerprint}) and make a new one? Peers learn the new certificate on their next call; the old pair still opens their requests for a while.</p>
<div>${postButton(ctx, href(config, '/admin/keys/rotate'), 'Rotate key now', { danger: true })} <a href="${href(config, '/admin/keys/')}">Cancel</a></div>`,
    });
  });

  router.post('/admin/keys/rotate', guards.admin, guards.form, async (ctx) => {
    const fresh = await keys.rotate();
    flash(ctx, config, `New key pair: SHA-1 ${fresh.sha1Fingerprint}, expires ${fresh.expires.toISOString().slice(0, 10)}. Peers learn it on their next call.`);
    redirectTo(ctx, config, '/admin/keys/');
  });
}
