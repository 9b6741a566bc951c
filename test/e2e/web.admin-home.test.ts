import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type User } from '../../src/identity/users.js';
import { parseCertificate } from '../../src/mnet/certificate.js';
import { savePeer, softDeletePeer } from '../../src/mnet/peers.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { MOODLE_CERT } from '../helpers/fixtures.js';
import { startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/** The admin dashboard over real HTTP: its counts against seeded rows, the key warning and the section links. */
describe.each(engines)('admin dashboard ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let admin: WebClient;
  let learner: User;

  const db = () => running.services.db;
  const HOUR = 3_600_000;

  async function addPeer(wwwroot: string): Promise<number> {
    const peer = await savePeer(db(), { wwwroot, name: wwwroot, application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: parseCertificate(MOODLE_CERT).validTo }, new Date());
    return peer.id;
  }

  async function queueItem(state: string): Promise<void> {
    const now = new Date();
    await db()('import_queue').insert({ usr: learner.id, expirytime: new Date(now.getTime() + 24 * HOUR), token: crypto.randomBytes(20).toString('hex'), ctime: now, state });
  }

  async function finished(outcome: string, hoursAgo: number): Promise<void> {
    const at = new Date(Date.now() - hoursAgo * HOUR);
    await db()('import_history').insert({ queue_id: 1, usr: learner.id, transport: 'mnet', outcome, ctime: at, finished_at: at });
  }

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    running = service.running;
    await createLocalUser(db(), { username: 'root', password: 'root password 1', admin: true });
    await createLocalUser(db(), { username: 'pupil', password: 'pupil password 1' });
    learner = await createUser(db(), { username: 'learner' });
    admin = new WebClient(service.wwwroot);
    await admin.login('root', 'root password 1');
  });

  afterAll(async () => {
    await service?.stop();
  });

  it('sends anonymous visitors to the login page and refuses students', async () => {
    const anonymous = await new WebClient(service.wwwroot).get('/admin/');
    expect(anonymous.status).toBe(303);
    expect(anonymous.location).toContain('/login?wantsurl=');
    const pupil = new WebClient(service.wwwroot);
    await pupil.login('pupil', 'pupil password 1');
    expect((await pupil.get('/admin/')).status).toBe(403);
  });

  it('starts empty: no peers, nothing queued, nothing finished, no failure highlighted', async () => {
    const answer = await admin.get('/admin/');
    expect(answer.status).toBe(200);
    const text = visibleText(answer.body);
    expect(text).toContain('0 active peers');
    expect(text).toContain('3 users');
    expect(text).toContain('intended 0 queued 0 processing 0 failed 0');
    expect(text).toContain('complete 0 failed 0 expired 0 cancelled 0');
    expect(answer.body).not.toContain('class="highlight"');
    expect(answer.body).not.toContain('role="alert"');
  });

  it('counts active peers, queue items by state, transfers of the last 24 hours and users', async () => {
    await addPeer('http://one.test');
    await addPeer('http://two.test');
    await softDeletePeer(db(), await addPeer('http://gone.test'));
    for (const state of ['intended', 'queued', 'queued', 'processing', 'failed', 'failed', 'failed']) await queueItem(state);
    await finished('complete', 1);
    await finished('complete', 23);
    await finished('failed', 2);
    await finished('cancelled', 5);
    await finished('complete', 25); // older than a day: not counted
    await finished('expired', 48);
    await createUser(db(), { username: 'another' });

    const answer = await admin.get('/admin/');
    const text = visibleText(answer.body);
    expect(text).toContain('2 active peers');
    expect(text).toContain('4 users');
    expect(text).toContain('Import queue by state State Transfers intended 1 queued 2 processing 1 failed 3 (needs attention: see the failed transfers');
    expect(text).toContain('Transfers finished in the last 24 hours Outcome Transfers complete 2 failed 1 expired 0 cancelled 1');
    expect(answer.body).toMatch(/<tr class="highlight"><th scope="row">failed<\/th><td>3 /);
    expect(answer.body).toContain('href="/admin/queue/?state=failed"');
    expect(answer.body).toContain('<a href="/admin/peers/">2 active peers</a>');
  });

  it('links every admin section', async () => {
    const body = (await admin.get('/admin/')).body;
    for (const [path, label] of [
      ['/admin/peers/', 'Peers'],
      ['/admin/keys/', 'Our key'],
      ['/admin/queue/', 'Import queue'],
      ['/admin/queue/history/', 'Finished transfers'],
      ['/admin/plugins/', 'Plugin priorities'],
      ['/admin/users/', 'Users'],
    ]) {
      expect(body).toContain(`<a href="${path}">${label}</a>`);
    }
  });

  it('warns when our key expires within 30 days', async () => {
    const before = visibleText((await admin.get('/admin/')).body);
    expect(before).not.toContain('Rotate it soon');
    await db()('site_keys').whereNull('retired_at').update({ expires_at: new Date(Date.now() + 10 * 24 * HOUR + HOUR) });
    await running.services.keys.reload();
    const answer = await admin.get('/admin/');
    expect(answer.body).toMatch(/<p class="error" role="alert">Our key expires on .* \(in 10 days\)\. Rotate it soon/);
    expect(answer.body).toContain('<a href="/admin/keys/">review our key</a>');
  });
});
