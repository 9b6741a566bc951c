import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/mnet/certificate.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { findPeer, type Peer } from '../../src/mnet/peers.js';
import { engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/** The admin pages for MNet peers and our own key, over real HTTP, against a live fake Moodle (issue 5). */
describe.each(engines)('web admin peers and keys ($name)', (engine) => {
  let service: ServiceUnderTest;
  let fake: FakePeer;
  let schooltool: FakePeer;
  let admin: WebClient;
  const services = () => service.running.services;
  const db = () => services().db;
  const evilName = 'Fake <script>alert(1)</script> LMS';

  /** A form post with repeated fields, as a browser sends checkboxes that share a name. */
  const postFields = (path: string, fields: Array<[string, string]>) =>
    admin.request(path, {
      method: 'POST',
      body: new URLSearchParams([['_csrf', admin.csrf ?? ''], ...fields]).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: service.wwwroot },
    });

  /** The peer registered for the fake Moodle, deleted ones included; undefined before it is added. */
  const findFake = () => findPeer(db(), fake.wwwroot, { includeDeleted: true });
  const stored = async (): Promise<Peer> => {
    const peer = await findFake();
    if (!peer) throw new Error(`${fake.wwwroot} is not registered`);
    return peer;
  };

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    fake = await FakePeer.start();
    fake.handlers.set(MethodPath.listServices, () => [{ name: 'pf', apiversion: 1, publish: 1, subscribe: 1 }]);
    fake.trusted.set(service.wwwroot, (await services().keys.current()).certificatePem);
    schooltool = await FakePeer.start();
    await createLocalUser(db(), { username: 'root', password: 'root-password-1', admin: true });
    await createLocalUser(db(), { username: 'ann', password: 'ann-password-1' });
    admin = new WebClient(service.wwwroot);
    await admin.login('root', 'root-password-1');
  });

  afterAll(async () => {
    await service?.stop();
    await fake?.stop();
    await schooltool?.stop();
  });

  it('sends anonymous visitors to the login page and refuses students', async () => {
    const anonymous = new WebClient(service.wwwroot);
    for (const path of ['/admin/peers/', '/admin/keys/', '/admin/peers/1']) {
      const answer = await anonymous.get(path);
      expect(answer.status).toBe(303);
      expect(answer.location).toBe(`/login?wantsurl=${encodeURIComponent(path)}`);
    }
    const student = new WebClient(service.wwwroot);
    await student.login('ann', 'ann-password-1');
    expect((await student.get('/admin/peers/')).status).toBe(403);
    expect((await student.get('/admin/keys/')).status).toBe(403);
    await student.get('/');
    expect((await student.post('/admin/keys/rotate')).status).toBe(403);
    expect((await student.post('/admin/peers/', { wwwroot: fake.wwwroot, application: 'moodle' })).status).toBe(403);
    expect(await findFake()).toBeUndefined();
  });

  it('refuses form posts without the CSRF token', async () => {
    const before = (await services().keys.current()).sha1Fingerprint;
    await admin.get('/admin/peers/');
    expect((await admin.post('/admin/peers/', { _csrf: '', wwwroot: fake.wwwroot, application: 'moodle' })).status).toBe(403);
    expect((await admin.post('/admin/keys/rotate', { _csrf: '' })).status).toBe(403);
    expect(await findFake()).toBeUndefined();
    expect((await services().keys.current()).sha1Fingerprint).toBe(before);
  });

  it('shows a readable error with status 400 and keeps the typed values when the peer cannot be reached', async () => {
    await admin.get('/admin/peers/');
    const answer = await admin.post('/admin/peers/', { wwwroot: 'http://127.0.0.1:1', name: 'Nowhere', application: 'mahara' });
    expect(answer.status).toBe(400);
    expect(visibleText(answer.body)).toContain('Could not reach http://127.0.0.1:1');
    expect(answer.body).toContain('value="http://127.0.0.1:1"');
    expect(answer.body).toContain('value="Nowhere"');
    expect(answer.body).toContain('<option value="mahara" selected>');
    expect(Number((await db()('peers').count({ n: '*' }).first())!.n)).toBe(0);
  });

  it('adds the fake Moodle by keyswap and lists it with its status, escaping its name', async () => {
    await admin.get('/admin/peers/');
    const added = await admin.post('/admin/peers/', { wwwroot: `${fake.wwwroot}/`, name: evilName, application: 'moodle' });
    expect(added.status, added.body).toBe(303);
    const peer = await stored();
    expect(peer).toMatchObject({ name: evilName, application: 'moodle', publicKeyPem: parseCertificate(fake.certificatePem).pem, deleted: false });
    expect(added.location).toBe(`/admin/peers/${peer.id}`);
    expect(fake.calls.filter((c) => c.method === MethodPath.keyswap && !c.encrypted)).toHaveLength(1);

    const detail = await admin.get(`/admin/peers/${peer.id}`);
    expect(detail.status).toBe(200);
    const text = visibleText(detail.body);
    expect(text).toContain(`Registered ${fake.wwwroot} as "${evilName}"`);
    expect(text).toContain(parseCertificate(fake.certificatePem).sha1Fingerprint);
    expect(text).toContain(new crypto.X509Certificate(fake.certificatePem).fingerprint256);
    expect(text).toContain(`${fake.wwwroot}/mnet/xmlrpc/server.php`);
    expect(text).toMatch(/Last contact never/);
    expect(detail.body).not.toContain('<script>');

    const list = await admin.get('/admin/peers/');
    expect(list.body).not.toContain('<script>');
    expect(list.body).toContain('Fake &#60;script&#62;alert(1)&#60;/script&#62; LMS');
    expect(list.body).toContain(`href="/admin/peers/${peer.id}"`);
    const row = visibleText(/<tbody>[\s\S]*<\/tbody>/.exec(list.body)![0]);
    expect(row).toContain(evilName);
    expect(row).toContain(fake.wwwroot);
    expect(row).toContain('Moodle');
    expect(row).toContain('never');
    expect(row).toContain('expires in 27 days');
  });

  it('refuses to add the same peer twice, with status 400', async () => {
    await admin.get('/admin/peers/');
    const again = await admin.post('/admin/peers/', { wwwroot: fake.wwwroot, name: '', application: 'moodle' });
    expect(again.status).toBe(400);
    expect(visibleText(again.body)).toContain('already registered');
  });

  it('changes the name, services, SSO settings and pairing in one form', async () => {
    const partner = await registerFakePeer(db(), schooltool, { wwwroot: service.wwwroot, certificatePem: '' }, { name: 'SchoolTool', application: 'schooltool' });
    const peer = await stored();
    const form = await admin.get(`/admin/peers/${peer.id}`);
    expect(visibleText(form.body)).toContain('SchoolTool (' + schooltool.wwwroot + ')');
    // A browser sends one publish/subscribe field per ticked box: sso_sp is no longer published, schooltool newly subscribed.
    const saved = await postFields(`/admin/peers/${peer.id}/settings`, [
      ['name', 'Renamed LMS'],
      ['application', 'moodle'],
      ['publish', 'pf'],
      ['publish', 'sso_idp'],
      ['subscribe', 'pf'],
      ['subscribe', 'schooltool'],
      ['ssoDirection', 'theyssoin'],
      ['weImportContent', '1'],
      ['weAutoCreateUsers', '1'],
      ['pairWith', String(partner.id)],
    ]);
    expect(saved.status, saved.body).toBe(303);
    expect(saved.location).toBe(`/admin/peers/${peer.id}`);

    const after = await stored();
    expect(after.name).toBe('Renamed LMS');
    expect(after.settings).toMatchObject({ theySsoIn: true, weSsoOut: false, weImportContent: true, weAutoCreateUsers: true, updateUserInfoOnLogin: false });
    expect(after.pairedPeerId).toBe(partner.id);
    // Only what changed is written; untouched services stay on their defaults.
    const rows = await db()('peer_services').where({ peer_id: peer.id }).orderBy('service').select('service', 'publish', 'subscribe');
    expect(rows).toEqual([
      { service: 'schooltool', publish: false, subscribe: true },
      { service: 'sso_sp', publish: false, subscribe: false },
    ]);
    expect((await findPeer(db(), schooltool.wwwroot))!.pairedPeerId).toBe(peer.id);
    const page = await admin.get(`/admin/peers/${peer.id}`);
    expect(visibleText(page.body)).toContain('Saved the settings of Renamed LMS.');
    expect(page.body).toMatch(/id="weImportContent" name="weImportContent" value="1" checked/);
    expect(page.body).toMatch(/<option value="theyssoin" selected>/);
    expect(page.body).toMatch(/id="publish-sso_sp" name="publish" value="sso_sp">/);
    expect(page.body).toMatch(/id="publish-pf" name="publish" value="pf" checked>/);
  });

  it('shows an expired key as expired in the list', async () => {
    await db()('peers').where({ wwwroot: schooltool.wwwroot }).update({ public_key_expires: new Date(Date.now() - 2 * 86_400_000) });
    const list = await admin.get('/admin/peers/');
    const row = /<tr>\s*<td><a[^>]*>SchoolTool<\/a>[\s\S]*?<\/tr>/.exec(list.body);
    expect(row, list.body).not.toBeNull();
    expect(visibleText(row![0])).toMatch(/expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
  });

  it('refuses contradictory or empty settings with status 400 and writes nothing', async () => {
    const peer = await stored();
    await admin.get(`/admin/peers/${peer.id}`);
    const clash = await admin.post(`/admin/peers/${peer.id}/settings`, {
      name: 'Should Not Stick',
      application: 'moodle',
      ssoDirection: 'wessoout',
      updateUserInfoOnLogin: '1',
      pairWith: '',
    });
    expect(clash.status).toBe(400);
    expect(visibleText(clash.body)).toContain('belongs to SSO direction theyssoin');
    expect(clash.body).toContain('value="Should Not Stick"');
    expect(clash.body).toMatch(/<option value="wessoout" selected>/);
    const empty = await admin.post(`/admin/peers/${peer.id}/settings`, { name: '', application: 'moodle', ssoDirection: 'none', pairWith: '' });
    expect(empty.status).toBe(400);
    expect(visibleText(empty.body)).toContain('A peer needs a name.');
    const after = await stored();
    expect(after.name).toBe('Renamed LMS');
    expect(after.settings.theySsoIn).toBe(true);
  });

  it('verifies the peer: flashes the outcome and shows the last contact', async () => {
    const peer = await stored();
    await admin.get(`/admin/peers/${peer.id}`);
    const verified = await admin.post(`/admin/peers/${peer.id}/verify`);
    expect(verified.status).toBe(303);
    expect(verified.location).toBe(`/admin/peers/${peer.id}`);
    const page = visibleText((await admin.get(`/admin/peers/${peer.id}`)).body);
    expect(page).toContain(`${fake.wwwroot}: verified.`);
    expect(page).toContain('authenticated call: yes');
    expect(page).not.toMatch(/Last contact never/);
    expect((await stored()).lastConnectAt).not.toBeNull();
    expect(fake.calls.some((c) => c.method === MethodPath.listServices && c.encrypted)).toBe(true);
  });

  it('reports a failed verification as readable text', async () => {
    const peer = await stored();
    const trusted = fake.trusted.get(service.wwwroot)!;
    fake.trusted.clear();
    try {
      await admin.get(`/admin/peers/${peer.id}`);
      expect((await admin.post(`/admin/peers/${peer.id}/verify`)).status).toBe(303);
      const page = visibleText((await admin.get(`/admin/peers/${peer.id}`)).body);
      expect(page).toContain('verification failed');
      expect(page).toMatch(/authenticated call: no: .+/);
    } finally {
      fake.trusted.set(service.wwwroot, trusted);
    }
  });

  it('fetches the key again after the peer rotated its own', async () => {
    const peer = await stored();
    await fake.rotate();
    await admin.get(`/admin/peers/${peer.id}`);
    expect((await admin.post(`/admin/peers/${peer.id}/rekey`)).status).toBe(303);
    expect((await stored()).publicKeyPem).toBe(parseCertificate(fake.certificatePem).pem);
    const page = visibleText((await admin.get(`/admin/peers/${peer.id}`)).body);
    expect(page).toContain(`Stored the new key of ${fake.wwwroot}`);
    expect(page).toContain(parseCertificate(fake.certificatePem).sha1Fingerprint);
  });

  it('answers 404 for ids that are not peers', async () => {
    for (const path of ['/admin/peers/99999', '/admin/peers/1abc', '/admin/peers/99999/delete']) {
      expect((await admin.get(path)).status, path).toBe(404);
    }
    await admin.get('/admin/peers/');
    expect((await admin.post('/admin/peers/99999/verify')).status).toBe(404);
  });

  it('deletes the peer after a confirmation page; deleted peers show only with ?all=1', async () => {
    const peer = await stored();
    const confirm = await admin.get(`/admin/peers/${peer.id}/delete`);
    expect(confirm.status).toBe(200);
    expect(visibleText(confirm.body)).toContain(`Really delete Renamed LMS (${fake.wwwroot})?`);
    expect((await stored()).deleted).toBe(false);
    const deleted = await admin.post(`/admin/peers/${peer.id}/delete`);
    expect(deleted.status).toBe(303);
    expect(deleted.location).toBe('/admin/peers/');
    expect((await stored()).deleted).toBe(true);

    const list = await admin.get('/admin/peers/');
    expect(visibleText(list.body)).toContain('Deleted Renamed LMS');
    expect(list.body).not.toContain(`href="/admin/peers/${peer.id}"`);
    const all = visibleText((await admin.get('/admin/peers/?all=1')).body);
    expect(all).toContain('Renamed LMS (deleted)');
    const detail = await admin.get(`/admin/peers/${peer.id}`);
    expect(visibleText(detail.body)).toContain('This peer is deleted');
    expect(detail.body).not.toContain('Save settings');
  });

  it('shows our key as services.keys.current() has it, and rotates it after a confirmation', async () => {
    const current = await services().keys.current();
    const page = await admin.get('/admin/keys/');
    expect(page.status).toBe(200);
    const text = visibleText(page.body);
    expect(text).toContain(current.sha1Fingerprint);
    expect(text).toContain(new crypto.X509Certificate(current.certificatePem).fingerprint256);
    expect(text).toContain(`${service.wwwroot}/api/xmlrpc/server.php`);
    expect(text).toContain('Site administration → Networking → Manage peers');
    expect(page.body).toContain(`<pre>${current.certificatePem}</pre>`);
    expect(page.body).toContain('href="/api/xmlrpc/publickey.php"');

    const confirm = await admin.get('/admin/keys/rotate');
    expect(confirm.status).toBe(200);
    expect(visibleText(confirm.body)).toContain('Really retire our key pair');
    expect((await services().keys.current()).sha1Fingerprint).toBe(current.sha1Fingerprint);
    const rotated = await admin.post('/admin/keys/rotate');
    expect(rotated.status).toBe(303);
    expect(rotated.location).toBe('/admin/keys/');
    const fresh = await services().keys.current();
    expect(fresh.sha1Fingerprint).not.toBe(current.sha1Fingerprint);
    const after = visibleText((await admin.get('/admin/keys/')).body);
    expect(after).toContain(`New key pair: SHA-1 ${fresh.sha1Fingerprint}`);
    expect(after).toMatch(/Fingerprint \(SHA-1\) ([0-9A-F:]+)/);
    expect(/Fingerprint \(SHA-1\) ([0-9A-F:]+)/.exec(after)![1]).toBe(fresh.sha1Fingerprint);
    expect(after).toContain('Old keys kept for decryption 1');
  });
});
