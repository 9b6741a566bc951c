import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { savePeer, type Peer } from '../../src/mnet/peers.js';
import { recordEvent } from '../../src/portfolio/events.js';
import { claimItem, createIntent, findQueueItem, markQueued, recordFailure, recordProgress, recordSubmission, writeHistory } from '../../src/portfolio/queue.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import { engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { MOODLE_CERT } from '../helpers/fixtures.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsAs, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/**
 * The import queue console over HTTP (issue 5): real transfers from a fake Moodle, failed for real (Moodle
 * has no package for the token), retried from the page and imported by the background run; the event log,
 * cancelling, progress, the finished transfers and their purge, and the refusals.
 */
const OTHER_HOST = 'https://other-moodle.example.edu';
const MB = 1024 * 1024;

describe.each(engines)('admin queue pages ($name)', (engine) => {
  let service: ServiceUnderTest;
  let moodle: FakePeer;
  let peer: Peer;
  let exports: MoodleExports;
  let ameliaId: number;
  let bobId: number;
  let admin: WebClient;
  const db = () => service.running.services.db;

  beforeAll(async () => {
    // One failed attempt marks a transfer failed, so a refused fetch shows the whole story at once.
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off', PORTFOLIO_MAX_ATTEMPTS: '1' } });
    moodle = await FakePeer.start();
    const ourCert = (await service.running.services.keys.current()).certificatePem;
    peer = await registerFakePeer(db(), moodle, { wwwroot: service.wwwroot, certificatePem: ourCert }, { name: 'Riverside Moodle' });
    await updatePeerIdentitySettings(db(), peer.id, { weImportContent: true });
    await savePeer(db(), { wwwroot: OTHER_HOST, name: 'Hillside Moodle', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') }, new Date());
    exports = new MoodleExports(moodle);
    const remote = { firstname: 'A', lastname: 'B', email: 'a@example.test' };
    ({ user: { id: ameliaId } } = await findOrCreateRemoteUser(db(), peer, { username: 'amelia', ...remote }, { create: true, updateProfile: false }));
    ({ user: { id: bobId } } = await findOrCreateRemoteUser(db(), peer, { username: 'bob', ...remote }, { create: true, updateProfile: false }));
    await createLocalUser(db(), { username: 'root', password: 'root-password-1', admin: true });
    await createLocalUser(db(), { username: 'student', password: 'student-password-1' });
    admin = new WebClient(service.wwwroot);
    await admin.login('root', 'root-password-1');
  });

  afterAll(async () => {
    await moodle?.stop();
    await service?.stop();
  });

  beforeEach(async () => {
    await db()('import_queue').delete();
  });

  async function rpc(method: string, params: XmlRpcValue[]): Promise<XmlRpcStruct> {
    const { response } = await callUsAs(moodle, { running: service.running, wwwroot: service.wwwroot }, method, params);
    if ('fault' in response) throw new Error(`${method} faulted: ${response.fault.code} ${response.fault.message}`);
    return response.value as XmlRpcStruct;
  }

  /** Moodle's export without waiting: intent, then ready; the package is offered only when `offer` is set. */
  async function queuedExport(offer: boolean): Promise<{ id: number; token: string; zip: Buffer }> {
    const token = (await rpc(MethodPath.sendContentIntent, ['amelia'])).token as string;
    const zip = fixtureZip('file-format-assign-files.zip');
    if (offer) exports.offer(token, zip);
    expect(await rpc(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(zip), ''])).toEqual({ status: true, type: 'queued' });
    const row = await db()('import_queue').where({ token }).first();
    return { id: row.id, token, zip };
  }

  /** A queued row made directly, as the CLI tests do, for a peer we never fetch from. */
  async function queuedRow(userId: number, host: string, zipfilesize = 10): Promise<number> {
    const item = await createIntent(db(), { host, userId, mustQueue: false, now: new Date() });
    const importData = { filesmanifest: { ['b'.repeat(40)]: { filename: 'essay.pdf', sha1: 'b'.repeat(40), size: 7 } }, zipfilesha1: 'a'.repeat(40), zipfilesize, totalsize: 7 };
    await recordSubmission(db(), item.id, { format: 'file', importData, loglevel: null, transport: 'mnet', location: null });
    await markQueued(db(), item.id);
    return item.id;
  }

  async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 200; i++) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('timed out waiting');
  }

  it('a fetch Moodle refuses fails the transfer: the list, the detail and the event log say so; "Retry now" imports it', async () => {
    const { id, token, zip } = await queuedExport(false);
    expect(await processIncomingContentQueue(service.running.services.imports)).toMatchObject({ failed: 1 });
    const failed = await db()('import_queue').where({ id }).first();
    expect(failed).toMatchObject({ state: 'failed', attempts: 1 });

    const list = await admin.get('/admin/queue/?state=failed');
    expect(list.status).toBe(200);
    const text = visibleText(list.body);
    expect(text).toContain('1 transfer in the queue (filtered)');
    expect(text).toMatch(new RegExp(`${id} amelia Riverside Moodle file failed 1 `));
    expect(text).toContain(failed.lasterror.slice(0, 40));
    expect(list.body).toContain(`href="/admin/queue/${id}"`);

    const detail = await admin.get(`/admin/queue/${id}`);
    const shown = visibleText(detail.body);
    expect(shown).toContain(`Transfer ${id}`);
    expect(shown).toContain(`Token ${token.slice(0, 8)}…`);
    expect(shown).not.toContain(token);
    expect(shown).toContain(`Last error ${failed.lasterror}`);
    expect(shown).toMatch(/Files manifest \(2 files\) Filename Size SHA-1 .*Research proposal v2\.pdf/);
    expect(shown).toContain(`(${zip.length} bytes) Zip SHA-1`);
    for (const event of ['Intent created for amelia: sendtype immediate', 'Content ready: file,', 'zip; queued', 'Claimed by worker', '(attempt 1)', `Attempt 1 failed: ${failed.lasterror}`, 'Marked failed after 1 attempt']) {
      expect(shown).toContain(event);
    }

    exports.offer(token, zip);
    await admin.get(`/admin/queue/${id}`);
    const retry = await admin.post(`/admin/queue/${id}/retry`);
    expect(retry.status).toBe(303);
    expect(retry.location).toBe(`/admin/queue/${id}`);
    const done = await waitFor(async () => db()('import_history').where({ queue_id: id, outcome: 'complete' }).first());
    expect(done.artefacts).toBe(2);
    expect(await db()('artefacts').where({ owner: ameliaId, import_id: id }).whereNot({ artefacttype: 'folder' }).orderBy('title').pluck('title')).toEqual([
      'Research proposal v2.pdf',
      'pilot-site.png',
    ]);

    // The finished item's address leads to its history, which keeps the whole event log.
    const after = await admin.get(`/admin/queue/${id}`);
    expect(after.status).toBe(303);
    expect(after.location).toBe(`/admin/queue/history/${done.id}`);
    const history = visibleText((await admin.get(after.location!)).body);
    expect(history).toContain('Retry started');
    expect(history).toContain(`Finished transfer ${done.id}`);
    expect(history).toContain('Outcome complete');
    expect(history).toContain('Requeued by admin root: due now, attempts reset');
    expect(history).toMatch(/Fetched [\d.]+ (B|KB|MB) \(\d+ bytes\) over MNet/);
    expect(history).toContain('Import committed: 2 artefacts, 0 skipped');
    expect(history.indexOf('Marked failed')).toBeLessThan(history.indexOf('Requeued by admin root'));
  });

  it('filters by state, peer and user; an unknown user or state is said so', async () => {
    const ameliaHere = await queuedRow(ameliaId, peer.wwwroot);
    const bobThere = await queuedRow(bobId, OTHER_HOST);
    const intent = await createIntent(db(), { host: OTHER_HOST, userId: ameliaId, mustQueue: true, now: new Date() });
    const ids = async (query: string) => [...(await admin.get(`/admin/queue/${query}`)).body.matchAll(/<td><a href="\/admin\/queue\/(\d+)">/g)].map((m) => Number(m[1]));

    expect(await ids('')).toEqual([ameliaHere, bobThere, intent.id]);
    expect(await ids('?state=intended')).toEqual([intent.id]);
    expect(await ids(`?peer=${encodeURIComponent(OTHER_HOST)}`)).toEqual([bobThere, intent.id]);
    expect(await ids('?user=BOB')).toEqual([bobThere]);
    expect(await ids(`?state=queued&user=amelia&peer=${encodeURIComponent(peer.wwwroot)}`)).toEqual([ameliaHere]);
    const page = await admin.get('/admin/queue/?user=nobody');
    expect(visibleText(page.body)).toContain('There is no user named nobody.');
    expect(await ids('?user=nobody')).toEqual([]);
    expect((await admin.get('/admin/queue/?state=done')).status).toBe(400);
    expect(page.body).toContain('<option value="https://other-moodle.example.edu">Hillside Moodle (https://other-moodle.example.edu)</option>');
  });

  it('shows a running download as a progress bar and text; a running transfer cannot be cancelled', async () => {
    const id = await queuedRow(bobId, OTHER_HOST, 40 * MB);
    await claimItem(db(), id, 'test-worker', new Date());
    await recordProgress(db(), id, 'test-worker', Math.round(12.3 * MB), new Date());
    const list = await admin.get('/admin/queue/?state=processing');
    expect(list.body).toContain(`<progress max="${40 * MB}" value="${Math.round(12.3 * MB)}"`);
    expect(visibleText(list.body)).toContain('12.3 MB of 40 MB');
    const detail = visibleText((await admin.get(`/admin/queue/${id}`)).body);
    expect(detail).toContain('Progress 12.3 MB of 40 MB');
    expect(detail).toContain('Worker test-worker, last heard of');
    expect(detail).not.toContain('Retry now');
    expect(detail).not.toContain('Cancel transfer');
    expect(visibleText((await admin.get(`/admin/queue/${id}/cancel`)).body)).toContain('cannot be cancelled');
    expect((await admin.post(`/admin/queue/${id}/cancel`)).status).toBe(303);
    expect(await db()('import_queue').where({ id }).first()).toMatchObject({ state: 'processing' });
  });

  it('cancels through a confirmation page: the row goes, a cancelled history row and an event stay', async () => {
    const { id } = await queuedExport(false);
    const confirm = await admin.get(`/admin/queue/${id}/cancel`);
    expect(confirm.status).toBe(200);
    expect(visibleText(confirm.body)).toContain(`Cancel transfer ${id}? Really cancel`);
    expect(await db()('import_queue').where({ id })).toHaveLength(1);
    const cancelled = await admin.post(`/admin/queue/${id}/cancel`);
    expect(cancelled).toMatchObject({ status: 303, location: '/admin/queue/' });
    expect(visibleText((await admin.get('/admin/queue/')).body)).toContain(`Transfer ${id} cancelled.`);
    expect(await db()('import_queue').where({ id })).toHaveLength(0);
    const history = await db()('import_history').where({ queue_id: id }).first();
    expect(history).toMatchObject({ outcome: 'cancelled' });
    expect(await db()('import_events').where({ queue_id: id }).pluck('message')).toContain('Cancelled by admin root');

    const list = visibleText((await admin.get('/admin/queue/history/?outcome=cancelled')).body);
    expect(list).toMatch(new RegExp(`${history.id} ${id} amelia Riverside Moodle file cancelled 0 0 `));
    expect(list).toMatch(/cancelled 1 /);
    expect((await admin.post(`/admin/queue/${id}/cancel`)).status).toBe(404);
  });

  it('shows untrusted text escaped: an error message with markup', async () => {
    const id = await queuedRow(bobId, OTHER_HOST);
    const claimed = await claimItem(db(), id, 'test-worker', new Date());
    const evil = 'Peer said <img src=x onerror=alert(1)>';
    await recordFailure(db(), claimed, { message: evil, permanent: true, maxAttempts: 5, now: new Date(), workerId: 'test-worker' });
    await recordEvent(service.running.services.imports, id, 'error', evil);
    for (const path of ['/admin/queue/', `/admin/queue/${id}`]) {
      const page = await admin.get(path);
      expect(page.body).not.toContain('<img src=x');
      expect(page.body).toContain('&#60;img src=x onerror=alert(1)&#62;');
      expect(visibleText(page.body)).toContain(evil);
    }
  });

  it('purges finished transfers older than N days, then all, with their events; bad input is refused', async () => {
    // A transfer that expired long ago: its row gone, its history and event left.
    const oldItem = (await findQueueItem(db(), await queuedRow(bobId, OTHER_HOST)))!;
    await db()('import_queue').where({ id: oldItem.id }).delete();
    await writeHistory(db(), oldItem, { outcome: 'expired', now: new Date('2020-01-02') });
    await recordEvent(service.running.services.imports, oldItem.id, 'warn', 'Expired before it was imported');
    const stillQueued = await queuedRow(bobId, OTHER_HOST);
    await recordEvent(service.running.services.imports, stillQueued, 'info', 'still here');
    const recent = await db()('import_history').whereNot({ queue_id: oldItem.id }).count({ n: '*' }).first();
    expect(Number(recent!.n)).toBeGreaterThan(0);

    const form = await admin.get('/admin/queue/purge');
    expect(visibleText(form.body)).toContain('Really delete finished transfers');
    expect((await admin.post('/admin/queue/purge', { scope: 'older', days: 'ten' })).status).toBe(400);
    const refused = await admin.post('/admin/queue/purge', { scope: 'older', days: '0' });
    expect(refused.status).toBe(400);
    expect(visibleText(refused.body)).toContain('Enter a whole number of days from 1 to 3650.');
    expect(refused.body).toContain('value="0"');

    expect(await admin.post('/admin/queue/purge', { scope: 'older', days: '30' })).toMatchObject({ status: 303, location: '/admin/queue/history/' });
    expect(visibleText((await admin.get('/admin/queue/history/')).body)).toContain('Purged 1 finished transfer and their event logs.');
    expect(await db()('import_history').where({ queue_id: oldItem.id })).toHaveLength(0);
    expect(await db()('import_events').where({ queue_id: oldItem.id })).toHaveLength(0);
    expect(Number((await db()('import_history').count({ n: '*' }).first())!.n)).toBe(Number(recent!.n));

    const finished = await db()('import_history').pluck('queue_id');
    expect(await db()('import_events').whereIn('queue_id', finished)).not.toHaveLength(0);
    await admin.post('/admin/queue/purge', { scope: 'all' });
    expect(await db()('import_history')).toHaveLength(0);
    expect(await db()('import_events').whereIn('queue_id', finished)).toHaveLength(0);
    expect(await db()('import_events').where({ queue_id: stillQueued }).pluck('message')).toEqual(['still here']);
    expect(visibleText((await admin.get('/admin/queue/history/')).body)).toContain('No transfers have finished yet.');
  });

  it('refuses anonymous visitors, students, posts without the CSRF token and unknown ids', async () => {
    const id = await queuedRow(bobId, OTHER_HOST);
    const anonymous = new WebClient(service.wwwroot);
    expect(await anonymous.get('/admin/queue/')).toMatchObject({ status: 303, location: '/login?wantsurl=%2Fadmin%2Fqueue%2F' });
    expect((await anonymous.post(`/admin/queue/${id}/cancel`)).status).toBe(403);
    const student = new WebClient(service.wwwroot);
    await student.login('student', 'student-password-1');
    for (const path of ['/admin/queue/', `/admin/queue/${id}`, '/admin/queue/history/', '/admin/queue/purge', `/admin/queue/${id}/cancel`]) {
      expect((await student.get(path)).status).toBe(403);
    }
    expect((await student.post(`/admin/queue/${id}/cancel`)).status).toBe(403);
    expect((await student.post('/admin/queue/purge', { scope: 'all' })).status).toBe(403);
    await admin.get('/admin/queue/');
    const forged = { 'Content-Type': 'application/x-www-form-urlencoded', Origin: service.wwwroot };
    expect((await admin.request(`/admin/queue/${id}/cancel`, { method: 'POST', body: '', headers: forged })).status).toBe(403);
    expect((await admin.request(`/admin/queue/${id}/retry`, { method: 'POST', body: '', headers: forged })).status).toBe(403);
    expect((await admin.request('/admin/queue/purge', { method: 'POST', body: 'scope=all', headers: forged })).status).toBe(403);
    expect(await db()('import_queue').where({ id })).toHaveLength(1);
    for (const path of ['/admin/queue/999999', '/admin/queue/1x', '/admin/queue/99999999999', '/admin/queue/999999/cancel', '/admin/queue/history/999999', '/admin/queue/history/abc']) {
      expect((await admin.get(path)).status).toBe(404);
    }
    expect((await admin.post('/admin/queue/999999/retry')).status).toBe(404);
  });
});
