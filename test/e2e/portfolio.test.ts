import crypto from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import type { MethodResponse, XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import type { Peer } from '../../src/mnet/peers.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsAs, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { buildZip } from '../helpers/zip-writer.js';

/**
 * "Export to portfolio" end to end (portfolio-import.md §0, §10 items 1–32): our whole service on loopback,
 * a fake Moodle that signs and encrypts with its own keys and serves fetch_file for the real packages
 * Moodle's code wrote (test/fixtures/leap2a/moodle/).
 */
describe.each(engines)('portfolio export from Moodle ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let moodle: FakePeer;
  let peer: Peer;
  let exports: MoodleExports;
  let userId: number;

  const db = () => running.services.db;

  beforeAll(async () => {
    // The cron is driven by hand here (processIncomingContentQueue), so no schedule runs on its own.
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    running = service.running;
    moodle = await FakePeer.start();
    peer = await registerFakePeer(db(), moodle, { wwwroot: service.wwwroot, certificatePem: (await running.services.keys.current()).certificatePem }, { name: 'Riverside Moodle' });
    await updatePeerIdentitySettings(db(), peer.id, { weImportContent: true });
    exports = new MoodleExports(moodle);
    ({ user: { id: userId } } = await findOrCreateRemoteUser(db(), peer, { username: 'amelia', firstname: 'Amelia', lastname: 'Hart', email: 'a@example.test' }, { create: true, updateProfile: false }));
  });

  afterAll(async () => {
    await moodle?.stop();
    await service?.stop();
  });

  beforeEach(async () => {
    exports.fetches.length = 0;
  });

  function call(method: string, params: XmlRpcValue[]): Promise<MethodResponse> {
    return callUsAs(moodle, { running, wwwroot: service.wwwroot }, method, params).then((a) => a.response);
  }

  async function value(method: string, params: XmlRpcValue[]): Promise<XmlRpcStruct> {
    const response = await call(method, params);
    if ('fault' in response) throw new Error(`${method} faulted: ${response.fault.code} ${response.fault.message}`);
    return response.value as XmlRpcStruct;
  }

  async function fault(method: string, params: XmlRpcValue[]): Promise<{ code: number; message: string }> {
    const response = await call(method, params);
    if (!('fault' in response)) throw new Error(`${method} answered ${JSON.stringify(response.value)}`);
    return response.fault;
  }

  /** Moodle's sequence: intent, then the package is built and offered, then ready. */
  async function exportPackage(zipName: string, format: string, fetchnow: string) {
    const intent = await value(MethodPath.sendContentIntent, ['amelia']);
    const token = intent.token as string;
    const zip = fixtureZip(zipName);
    exports.offer(token, zip);
    const ready = await value(MethodPath.sendContentReady, [token, 'amelia', format, await importDataFor(zip), fetchnow]);
    return { intent, token, ready };
  }

  async function artefactsOf(type?: string) {
    const query = db()('artefacts').where({ owner: userId }).orderBy('id');
    if (type) query.where({ artefacttype: type });
    return query;
  }

  async function clearArtefacts() {
    await db()('artefacts').where({ owner: userId }).delete();
    await db()('users').where({ id: userId }).update({ quota_used: 0 });
  }

  it('a file export with "wait": imported at once into incoming, Moodle gets the continue querystring', async () => {
    await clearArtefacts();
    const { intent, token, ready } = await exportPackage('file-format-assign-files.zip', 'file', '1');
    expect(intent.sendtype).toBe('immediate');
    expect(token).toMatch(/^[0-9a-f]{40}$/);
    expect(ready).toMatchObject({ status: true, type: 'complete' });
    expect(ready.querystring).toMatch(/^\?folder=\d+&file=0&$/);
    expect(exports.fetches).toEqual([token]);

    const [folder] = await artefactsOf('folder');
    expect(folder).toMatchObject({ title: 'incoming', parent: null });
    expect(ready.querystring).toBe(`?folder=${folder.id}&file=0&`);
    const files = await db()('artefacts').where({ owner: userId, parent: folder.id }).orderBy('title');
    expect(files.map((f) => [f.title, f.artefacttype, f.description])).toEqual([
      ['Research proposal v2.pdf', 'file', 'Research proposal v2.pdf (Imported from Remote host Riverside Moodle)'],
      ['pilot-site.png', 'image', 'pilot-site.png (Imported from Remote host Riverside Moodle)'],
    ]);
    expect(await db()('import_queue').where({ token })).toHaveLength(0);
    expect(await db()('import_history').where({ token })).toMatchObject([{ outcome: 'complete', artefacts: 2, querystring: ready.querystring }]);

    // Moodle retrying the same ready call gets the same answer and nothing is imported twice.
    const again = await value(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(fixtureZip('file-format-assign-files.zip')), '1']);
    expect(again).toEqual(ready);
    expect(await artefactsOf()).toHaveLength(3);
    expect(exports.fetches).toEqual([token]);
  });

  it('a file export without waiting is queued, and the next cron run imports it into the same incoming folder', async () => {
    await clearArtefacts();
    const first = await exportPackage('file-format-assign-files.zip', 'file', '');
    expect(first.ready).toEqual({ status: true, type: 'queued' });
    expect(exports.fetches).toEqual([]);
    expect(await db()('import_queue').where({ token: first.token }).first()).toMatchObject({ ready: 1, state: 'queued', format: 'file' });

    const summary = await processIncomingContentQueue(running.services.imports);
    expect(summary).toMatchObject({ imported: 1, failed: 0, retrying: 0 });
    expect(exports.fetches).toEqual([first.token]);
    expect(await db()('import_queue').where({ token: first.token })).toHaveLength(0);

    // A second export of the same files lands beside the first two, in the same folder (§5.3, checklist 29).
    await exportPackage('file-format-assign-files.zip', 'file', '1');
    const folders = await artefactsOf('folder');
    expect(folders).toHaveLength(1);
    const titles = (await db()('artefacts').where({ parent: folders[0].id })).map((f) => f.title).sort();
    expect(titles).toEqual(['Research proposal v2.pdf', 'Research proposal v2.pdf', 'pilot-site.png', 'pilot-site.png']);
  });

  it('a LEAP2A export (forum discussion) becomes a journal with its posts; the querystring is "?"', async () => {
    await clearArtefacts();
    const { ready } = await exportPackage('forum-discussion.zip', 'leap2a', '1');
    expect(ready).toEqual({ status: true, type: 'complete', querystring: '?' });
    const [journal] = await artefactsOf('blog');
    expect(journal.title).toMatch(/^Discussion: /);
    expect(await db()('artefacts').where({ parent: journal.id, artefacttype: 'blogpost' })).toHaveLength(3);
    expect((await artefactsOf('contactinformation')).length).toBe(1);
  });

  it('the design note\'s names: content_intent answers queueandwait with the id, content_ready takes the id', async () => {
    await clearArtefacts();
    const intent = await value(MethodPath.contentIntent, ['amelia']);
    expect(intent).toMatchObject({ sendtype: 'queueandwait', id: expect.any(Number), token: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const zip = fixtureZip('file-format-assign-files.zip');
    exports.offer(intent.token as string, zip);
    const ready = await value(MethodPath.contentReady, [intent.id as number, 'amelia', 'file', await importDataFor(zip), 0]);
    expect(ready).toEqual({ status: true, type: 'queued' });
    expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ imported: 1 });
    expect(await artefactsOf('file')).toHaveLength(1);
    expect(await artefactsOf('image')).toHaveLength(1);
  });

  it('the design note\'s package: manifest.txt routes FILE and LEAP lines, fetched by HTTP GET from the given location', async () => {
    await clearArtefacts();
    const notes = 'Field notes, week 3';
    const leap = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:leap2="http://terms.leapspecs.org/">
  <id>urn:test:feed</id><title>Design export</title><leap2:version>http://www.leapspecs.org/2010-07/2A/</leap2:version>
  <author><name>Amelia Hart</name></author>
  <entry><id>urn:test:post1</id><title>Reflection</title><content type="text">What I learned.</content><rdf:type rdf:resource="leap2:entry"/></entry>
</feed>`;
    const md5 = (text: string) => crypto.createHash('md5').update(text).digest('hex');
    const manifest = `${md5(notes)}:FILE:notes: week 3.txt\n${md5(leap)}:LEAP:leap2a.xml\n`;
    const zip = buildZip([
      { name: 'manifest.txt', data: manifest },
      { name: 'notes: week 3.txt', data: notes },
      { name: 'leap2a.xml', data: leap },
    ]);
    moodle.downloads.set('/portfolio/export.php', zip);
    const intent = await value(MethodPath.contentIntent, ['amelia']);
    const location = `${moodle.wwwroot}/portfolio/export.php`;
    const ready = await value(MethodPath.contentReady, [intent.id as number, 'amelia', 'leap2a', await importDataFor(zip), '', location]);
    expect(ready).toEqual({ status: true, type: 'queued' });
    expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ imported: 1 });
    expect(moodle.downloadRequests).toEqual([`/portfolio/export.php?id=${intent.id}&token=${intent.token}`]);
    expect(exports.fetches).toEqual([]);
    const [incoming] = await artefactsOf('folder');
    expect(await db()('artefacts').where({ parent: incoming.id }).select('title')).toEqual([{ title: 'notes: week 3.txt' }]);
    expect((await artefactsOf('blogpost')).map((p) => p.title)).toEqual(['Reflection']);
  });

  it('a Moodle file export holding a student\'s own manifest.txt imports it as an ordinary file (§4.3)', async () => {
    await clearArtefacts();
    const zip = buildZip([
      { name: 'manifest.txt', data: 'deadbeef:FILE:nothing-to-see.txt\n' },
      { name: 'essay.txt', data: 'My essay' },
    ]);
    const token = (await value(MethodPath.sendContentIntent, ['amelia'])).token as string;
    exports.offer(token, zip);
    const ready = await value(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(zip), '1']);
    expect(ready.type).toBe('complete');
    const [incoming] = await artefactsOf('folder');
    expect((await db()('artefacts').where({ parent: incoming.id }).orderBy('title')).map((a) => a.title)).toEqual(['essay.txt', 'manifest.txt']);
  });

  it('content_intent on the design names says "no" when importing is off; the real name faults', async () => {
    await updatePeerIdentitySettings(db(), peer.id, { weImportContent: false });
    try {
      const before = await db()('import_queue').count({ n: '*' }).first();
      expect(await value(MethodPath.contentIntent, ['amelia'])).toEqual({ sendtype: 'no' });
      // The design names may create the user, but not for an intent refused anyway.
      await updatePeerIdentitySettings(db(), peer.id, { weAutoCreateUsers: true });
      expect(await value(MethodPath.contentIntent, ['newcomer'])).toEqual({ sendtype: 'no' });
      expect(await db()('remote_users').where({ remote_username: 'newcomer' })).toHaveLength(0);
      expect(await fault(MethodPath.sendContentIntent, ['amelia'])).toEqual({ code: 0, message: 'Importing content is disabled' });
      expect(await db()('import_queue').count({ n: '*' }).first()).toEqual(before);
    } finally {
      await updatePeerIdentitySettings(db(), peer.id, { weImportContent: true, weAutoCreateUsers: false });
    }
  });
});
