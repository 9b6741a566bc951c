import crypto from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { chromiumAvailable, launchChromium, openPage, screenshot } from '../helpers/browser.js';
import { engines } from '../helpers/db.js';
import { FakeFault, FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsForStruct, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) PortfolioBrowserTest/1.0';
const sha1 = (data: string | Buffer) => crypto.createHash('sha1').update(data).digest('hex');

/**
 * A student's path in a real browser (issue 5): export from Moodle, follow Moodle's continue link (an
 * MNet jump that lands here by SSO) to the imported files, download one, and read an imported forum
 * discussion as journal posts.
 */
describe.skipIf(!chromiumAvailable()).each(engines)('student pages in Chromium ($name)', (engine) => {
  let service: ServiceUnderTest;
  let moodle: FakePeer;
  let exports: MoodleExports;
  let browser: Browser;
  let page: Page;
  /** Moodle's mnet sessions: jump token → the user record user_authorise answers. */
  const jumps = new Map<string, XmlRpcStruct>();

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    const { db, keys } = service.running.services;
    moodle = await FakePeer.start();
    const peer = await registerFakePeer(db, moodle, { wwwroot: service.wwwroot, certificatePem: (await keys.current()).certificatePem }, { name: 'Riverside Moodle' });
    await updatePeerIdentitySettings(db, peer.id, { ssoDirection: 'theyssoin', weAutoCreateUsers: true, weImportContent: true });
    moodle.handlers.set(MethodPath.userAuthorise, ([token, uaHash]) => {
      const record = typeof token === 'string' ? jumps.get(token) : undefined;
      if (!record || uaHash !== sha1(UA)) throw new FakeFault(1, 'Authorisation failed: the mnet session does not exist.');
      return record;
    });
    exports = new MoodleExports(moodle);
    browser = await launchChromium();
    page = await openPage(browser, { userAgent: UA, acceptDownloads: true });
  });

  afterAll(async () => {
    await browser?.close();
    await moodle?.stop();
    await service?.stop();
  });

  const moodleCalls = (method: string, params: XmlRpcValue[]) => callUsForStruct(moodle, service, method, params);

  /** "Export to portfolio" with "wait": the package is fetched and imported at once. */
  async function exportNow(zipName: string, format: string): Promise<string> {
    const { token } = await moodleCalls(MethodPath.sendContentIntent, ['amelia']);
    const zip = fixtureZip(zipName);
    exports.offer(token as string, zip);
    const ready = await moodleCalls(MethodPath.sendContentReady, [token!, 'amelia', format, await importDataFor(zip), '1']);
    expect(ready.type).toBe('complete');
    return ready.querystring as string;
  }

  /** Moodle's continue link: /auth/mnet/jump.php at Moodle sends the browser to our land.php. */
  function continueLink(wantsurl: string): string {
    const token = crypto.randomBytes(20).toString('hex');
    jumps.set(token, { username: 'amelia', firstname: 'Amelia', lastname: 'Hart', email: 'amelia@lms.example.edu', auth: 'mnet', deleted: '0', wwwroot: moodle.wwwroot });
    return `${service.wwwroot}/auth/xmlrpc/land.php?${new URLSearchParams({ token, idp: moodle.wwwroot, wantsurl })}`;
  }

  it('signs on from Moodle the first time: an account is made and the home page greets the student', async () => {
    await page.goto(continueLink('/'));
    await page.getByRole('heading', { name: 'Hello, Amelia Hart' }).waitFor();
    await screenshot(page, `student-${engine.name}-0-home`);
  });

  it('lands by SSO from the continue link on the imported files, the new file highlighted', async () => {
    const querystring = await exportNow('forum-post.zip', 'leap2a');
    expect(querystring).toBe('?');
    const files = await exportNow('file-format-assign-files.zip', 'file');
    const [, folder, file] = /^\?folder=(\d+)&file=(\d+)&$/.exec(files)!;
    // Moodle's continue URL for a file export with one file would name it; this package has two, so file=0.
    const [png] = await service.running.services.db('artefacts').where({ parent: Number(folder), title: 'pilot-site.png' });
    expect(file).toBe('0');
    await page.goto(continueLink(`/artefact/file/?folder=${folder}&file=${png.id}&`));
    expect(new URL(page.url()).pathname).toBe('/artefact/file/');
    await page.getByRole('heading', { name: 'incoming' }).waitFor();
    const highlighted = page.locator('tr.highlight');
    expect(await highlighted.count()).toBe(1);
    expect(await highlighted.textContent()).toContain('pilot-site.png');
    expect(await page.getByRole('row', { name: /Research proposal v2\.pdf/ }).count()).toBe(1);
    await screenshot(page, `student-${engine.name}-1-files`);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('row', { name: /Research proposal v2\.pdf/ }).getByRole('link', { name: /Download/ }).click()]);
    expect(download.suggestedFilename()).toBe('Research proposal v2.pdf');
    const saved = await download.path();
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(saved);
    const [stored] = await service.running.services.db('artefacts').join('artefact_files', 'artefact_files.artefact', 'artefacts.id').where({ title: 'Research proposal v2.pdf' });
    expect(bytes.length).toBe(Number(stored.size));
  });

  it('reads the imported forum post as a journal post', async () => {
    await page.getByRole('link', { name: 'Journals' }).first().click();
    await page.getByRole('heading', { name: 'Journals', level: 1 }).waitFor();
    await page.locator('main a[href*="/journal/"]').first().click();
    const posts = page.locator('.post');
    await posts.first().waitFor();
    expect(await posts.count()).toBeGreaterThan(0);
    await screenshot(page, `student-${engine.name}-2-journal`);
    await page.getByRole('link', { name: 'Imports' }).first().click();
    expect(await page.getByRole('row', { name: /Imported/ }).count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, `student-${engine.name}-3-imports`);
  });
});
