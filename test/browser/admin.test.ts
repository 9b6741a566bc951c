import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordLink, ensureAdmin } from '../../src/identity/local-login.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import type { XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { findPeer } from '../../src/mnet/peers.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import { chromiumAvailable, launchChromium, openPage, screenshot } from '../helpers/browser.js';
import { engines } from '../helpers/db.js';
import { FakePeer } from '../helpers/fake-peer.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsForStruct, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';

/**
 * The admin's main path in a real browser (issue 5): set the password from the `admin create` link, add
 * the school's Moodle as a peer, allow it to send content, see a queued export, and retry one that failed.
 */
describe.skipIf(!chromiumAvailable()).each(engines)('admin console in Chromium ($name)', (engine) => {
  let service: ServiceUnderTest;
  let moodle: FakePeer;
  let exports: MoodleExports;
  let browser: Browser;
  let page: Page;
  const db = () => service.running.services.db;

  beforeAll(async () => {
    // One attempt: a fetch that fails leaves the item failed at once, for the admin to retry.
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off', PORTFOLIO_MAX_ATTEMPTS: '1' } });
    moodle = await FakePeer.start();
    moodle.trusted.set(service.wwwroot, (await service.running.services.keys.current()).certificatePem);
    exports = new MoodleExports(moodle);
    browser = await launchChromium();
    page = await openPage(browser);
  });

  afterAll(async () => {
    await browser?.close();
    await moodle?.stop();
    await service?.stop();
  });

  const moodleCalls = (method: string, params: XmlRpcValue[]) => callUsForStruct(moodle, service, method, params);

  /** Moodle queues an export of the assignment files for `username`; the package is offered only if asked. */
  async function queueExport(username: string, offer: boolean): Promise<string> {
    const { token } = await moodleCalls(MethodPath.sendContentIntent, [username]);
    const zip = fixtureZip('file-format-assign-files.zip');
    if (offer) exports.offer(token as string, zip);
    const ready = await moodleCalls(MethodPath.sendContentReady, [token!, username, 'file', await importDataFor(zip), '']);
    expect(ready.type).toBe('queued');
    return token as string;
  }

  it('sets the first admin password from the printed link and lands on the console', async () => {
    const services = service.running.services;
    const { user } = await ensureAdmin(db(), 'siteadmin', services.now());
    const token = await createPasswordLink(db(), user.id, services.now());
    await page.goto(`${service.wwwroot}/password/${token}`);
    await page.getByLabel(/New password/).fill('a-long-admin-password');
    await page.getByLabel('Repeat it').fill('a-long-admin-password');
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await page.waitForURL(`${service.wwwroot}/admin/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Administration');
    await screenshot(page, `admin-${engine.name}-1-console`);
  });

  it('logs out, and logs in again with the login form', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor();
    await page.goto(`${service.wwwroot}/admin/peers/`);
    // Sent to the login page, and back to the page it wanted afterwards.
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByLabel('Username').fill('siteadmin');
    await page.getByLabel('Password').fill('a-long-admin-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${service.wwwroot}/admin/peers/`);
    await page.goto(`${service.wwwroot}/admin/`);
  });

  it('adds the Moodle site as a peer and lets it send content', async () => {
    await page.getByRole('link', { name: 'Peers' }).first().click();
    await page.getByLabel('Web address (wwwroot)').fill(moodle.wwwroot);
    await page.getByLabel('Name (optional)').fill('Riverside Moodle');
    await page.getByRole('button', { name: 'Add peer' }).click();
    await page.getByRole('heading', { name: 'Peer Riverside Moodle' }).waitFor();
    await page.getByLabel(/Import content/).check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('heading', { name: 'Peer Riverside Moodle' }).waitFor();
    await screenshot(page, `admin-${engine.name}-2-peer`);
    const peer = await findPeer(db(), moodle.wwwroot);
    expect(peer?.settings.weImportContent).toBe(true);
    expect(await page.getByLabel(/Import content/).isChecked()).toBe(true);
  });

  it('sees a queued export in the import queue', async () => {
    const peer = (await findPeer(db(), moodle.wwwroot))!;
    await findOrCreateRemoteUser(db(), peer, { username: 'amelia', firstname: 'Amelia', lastname: 'Hart', email: 'a@example.test' }, { create: true, updateProfile: false });
    await queueExport('amelia', true);
    await page.goto(`${service.wwwroot}/admin/`);
    await page.getByRole('link', { name: 'Import queue' }).first().click();
    const row = page.getByRole('row', { name: /amelia/ });
    await row.first().waitFor();
    expect(await row.first().textContent()).toMatch(/queued/);
    await screenshot(page, `admin-${engine.name}-3-queue`);
  });

  it('retries a failed import: after Moodle offers the package again, it is imported', async () => {
    // Drain the queued one, then queue one whose package Moodle cannot find: it fails.
    await processIncomingContentQueue(service.running.services.imports);
    const token = await queueExport('amelia', false);
    await processIncomingContentQueue(service.running.services.imports);
    const [failed] = await db()('import_queue').where({ token });
    expect(failed.state).toBe('failed');

    await page.goto(`${service.wwwroot}/admin/queue/?state=failed`);
    await page.getByRole('link', { name: String(failed.id), exact: true }).click();
    await page.getByText('Could not find token').first().waitFor();
    await screenshot(page, `admin-${engine.name}-4-failed`);
    exports.offer(token, fixtureZip('file-format-assign-files.zip'));
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.getByText('Retry started').waitFor();
    // The retry runs in the background: wait for its history row (the first attempt left a `failed` one).
    const completed = () => db()('import_history').where({ token, outcome: 'complete' });
    for (let i = 0; i < 100 && (await completed()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await completed()).toMatchObject([{ artefacts: 2 }]);
    expect(await db()('import_queue').where({ token })).toHaveLength(0);
    await page.goto(`${service.wwwroot}/admin/queue/history/`);
    expect(await page.getByRole('row', { name: /complete/ }).count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, `admin-${engine.name}-5-history`);
  });

  it('reads well on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${service.wwwroot}/admin/queue/history/`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, `admin-${engine.name}-6-phone`);
  });
});
