import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import type { MethodResponse, XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import type { Peer } from '../../src/mnet/peers.js';
import { processIncomingContentQueue } from '../../src/portfolio/run-queue.js';
import { requeueItem } from '../../src/portfolio/queue.js';
import type { RunningService } from '../../src/start.js';
import { engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsAs, startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { buildZip } from '../helpers/zip-writer.js';

/**
 * Bad input on the portfolio RPCs and in packages (portfolio-import.md §8): each refusal is a fault with
 * Mahara's text (code 0), and nothing is created — no artefact, no blob, no stray queue row.
 */
describe.each(engines)('portfolio export: bad input ($name)', (engine) => {
  let service: ServiceUnderTest;
  let running: RunningService;
  let moodle: FakePeer;
  let other: FakePeer;
  let exports: MoodleExports;
  let userId: number;

  const db = () => running.services.db;
  const SHA1_OF_NOTHING = crypto.createHash('sha1').update('').digest('hex');

  async function register(fake: FakePeer, name: string): Promise<Peer> {
    const peer = await registerFakePeer(db(), fake, { wwwroot: service.wwwroot, certificatePem: (await running.services.keys.current()).certificatePem }, { name });
    await updatePeerIdentitySettings(db(), peer.id, { weImportContent: true });
    return peer;
  }

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    running = service.running;
    [moodle, other] = await Promise.all([FakePeer.start(), FakePeer.start()]);
    const peer = await register(moodle, 'Riverside Moodle');
    const otherPeer = await register(other, 'Hillside Moodle');
    exports = new MoodleExports(moodle);
    const remote = { firstname: 'A', lastname: 'B', email: 'a@b.test' };
    ({ user: { id: userId } } = await findOrCreateRemoteUser(db(), peer, { username: 'amelia', ...remote }, { create: true, updateProfile: false }));
    await findOrCreateRemoteUser(db(), peer, { username: 'ravi', ...remote }, { create: true, updateProfile: false });
    await findOrCreateRemoteUser(db(), otherPeer, { username: 'amelia', ...remote }, { create: true, updateProfile: false });
  });

  afterAll(async () => {
    await moodle?.stop();
    await other?.stop();
    await service?.stop();
  });

  beforeEach(async () => {
    exports.fetches.length = 0;
    await db()('users').update({ quota: 52428800, quota_used: 0 });
  });

  async function call(method: string, params: XmlRpcValue[], from = moodle): Promise<MethodResponse> {
    return (await callUsAs(from, { running, wwwroot: service.wwwroot }, method, params)).response;
  }

  async function value(method: string, params: XmlRpcValue[], from = moodle): Promise<XmlRpcStruct> {
    const response = await call(method, params, from);
    if ('fault' in response) throw new Error(`${method} faulted: ${response.fault.code} ${response.fault.message}`);
    return response.value as XmlRpcStruct;
  }

  async function faultOf(method: string, params: XmlRpcValue[], from = moodle): Promise<{ code: number; message: string }> {
    const response = await call(method, params, from);
    if (!('fault' in response)) throw new Error(`${method} answered ${JSON.stringify(response.value)}`);
    return response.fault;
  }

  async function intent(username = 'amelia', from = moodle): Promise<string> {
    return (await value(MethodPath.sendContentIntent, [username], from)).token as string;
  }

  async function nothingCreated(): Promise<void> {
    expect(await db()('artefacts').count({ n: '*' }).first()).toMatchObject({ n: expect.anything() });
    expect(Number((await db()('artefacts').count({ n: '*' }).first())!.n)).toBe(0);
    expect(Number((await db()('blobs').count({ n: '*' }).first())!.n)).toBe(0);
    const files = path.join(running.services.config.dataDir, 'files');
    const stored = fs.existsSync(files) ? fs.readdirSync(files, { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f))) : [];
    expect(stored).toEqual([]);
  }

  /** send_content_ready with `fetchnow` = '1' for a package Moodle offers under the intent's token. */
  async function readyNow(zip: Buffer, importData: XmlRpcStruct, format = 'file'): Promise<{ code: number; message: string }> {
    const token = await intent();
    exports.offer(token, zip);
    return faultOf(MethodPath.sendContentReady, [token, 'amelia', format, importData, '1']);
  }

  const fileZip = () => fixtureZip('file-format-assign-files.zip');

  it('an unknown user gets "Could not find user" and no intent row', async () => {
    const rows = Number((await db()('import_queue').count({ n: '*' }).first())!.n);
    expect(await faultOf(MethodPath.sendContentIntent, ['ghost'])).toEqual({ code: 0, message: `Could not find user ghost for ${moodle.wwwroot}` });
    expect(Number((await db()('import_queue').count({ n: '*' }).first())!.n)).toBe(rows);
  });

  it('an unknown token, or another peer\'s token, is "Could not find queue record"', async () => {
    const data = await importDataFor(fileZip());
    const message = `Could not find queue record with given token for username amelia for ${moodle.wwwroot}`;
    expect(await faultOf(MethodPath.sendContentReady, ['0'.repeat(40), 'amelia', 'file', data, ''])).toEqual({ code: 0, message });
    const othersToken = await intent('amelia', other);
    expect(await faultOf(MethodPath.sendContentReady, [othersToken, 'amelia', 'file', data, ''])).toEqual({ code: 0, message });
  });

  it('a token issued to another user is refused; an expired one too', async () => {
    const data = await importDataFor(fileZip());
    const ravis = await intent('ravi');
    expect((await faultOf(MethodPath.sendContentReady, [ravis, 'amelia', 'file', data, ''])).message).toBe('Queue record does not belong to this user');
    const token = await intent();
    await db()('import_queue').where({ token }).update({ expirytime: new Date(Date.now() - 1000) });
    expect((await faultOf(MethodPath.sendContentReady, [token, 'amelia', 'file', data, ''])).message).toBe('Queue record has expired');
  });

  it('formats: pdf is invalid; files and leap are aliases', async () => {
    const data = await importDataFor(fileZip());
    expect((await faultOf(MethodPath.sendContentReady, [await intent(), 'amelia', 'pdf', data, ''])).message).toBe('Invalid format pdf');
    expect(await value(MethodPath.sendContentReady, [await intent(), 'amelia', 'files', data, ''])).toEqual({ status: true, type: 'queued' });
    expect(await value(MethodPath.sendContentReady, [await intent(), 'amelia', 'leap', data, ''])).toEqual({ status: true, type: 'queued' });
    await db()('import_queue').delete();
  });

  it('importdata: each missing or malformed part is "Invalid importdata: …"', async () => {
    const good = await importDataFor(fileZip());
    const cases: XmlRpcStruct[] = [
      { ...good, filesmanifest: {} },
      { zipfilesha1: good.zipfilesha1!, zipfilesize: good.zipfilesize!, totalsize: good.totalsize! },
      { ...good, zipfilesha1: '' },
      { filesmanifest: good.filesmanifest!, zipfilesha1: good.zipfilesha1!, zipfilesize: good.zipfilesize! },
      { filesmanifest: good.filesmanifest!, zipfilesha1: good.zipfilesha1!, totalsize: good.totalsize! },
      { ...good, zipfilesize: -1 },
      { ...good, filesmanifest: { [SHA1_OF_NOTHING]: { filename: '../evil', sha1: SHA1_OF_NOTHING, size: 0 } } },
    ];
    for (const data of cases) {
      const f = await faultOf(MethodPath.sendContentReady, [await intent(), 'amelia', 'file', data, '1']);
      expect(f.code).toBe(0);
      expect(f.message).toMatch(/^Invalid importdata: /);
    }
    expect(exports.fetches).toEqual([]);
  });

  it('a package bigger than the quota is refused before any fetch', async () => {
    await db()('users').where({ id: userId }).update({ quota: 1000 });
    const f = await readyNow(fileZip(), await importDataFor(fileZip()));
    expect(f).toEqual({ code: 0, message: 'Exceeded user quota' });
    expect(exports.fetches).toEqual([]);
  });

  it('fetch, size, sha1 and zip checks each fail the import with nothing created', async () => {
    const zip = fileZip();
    const data = await importDataFor(zip);
    // Moodle has no such export (8009).
    const token = await intent();
    expect((await faultOf(MethodPath.sendContentReady, [token, 'amelia', 'file', data, '1'])).message).toMatch(/^Failed to retrieve zipfile from remote server: .*8009/);
    // A different zip than announced.
    expect((await readyNow(Buffer.concat([zip, Buffer.from('x')]), data)).message).toMatch(/^size of received importfile didn't match expected size|^Failed to retrieve zipfile/);
    const tampered = Buffer.from(zip);
    tampered[tampered.length - 30]! ^= 1;
    expect((await readyNow(tampered, data)).message).toBe("sha1 of received importfile didn't match expected sha1");
    // Not a zip, with honest size and sha1.
    const pdf = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n');
    expect((await readyNow(pdf, { ...data, zipfilesha1: sha1(pdf), zipfilesize: pdf.length })).message).toBe('Not a valid zipfile - mimetype was application/pdf');
    await nothingCreated();
    // The failed immediate imports wait for their expiry, reason kept (§1.3 step 10).
    expect(await db()('import_queue').where({ state: 'intended' }).whereNotNull('lasterror')).not.toHaveLength(0);
    await db()('import_queue').delete();
  });

  it('a zip with an entry escaping its folder is rejected whole', async () => {
    const zip = buildZip([
      { name: 'ok.txt', data: 'fine' },
      { name: '../evil.txt', data: 'evil' },
    ]);
    const data = { filesmanifest: { [sha1('fine')]: { filename: 'ok.txt', sha1: sha1('fine'), size: 4 } }, zipfilesha1: sha1(zip), zipfilesize: zip.length, totalsize: 4 };
    expect((await readyNow(zip, data)).message).toMatch(/^Failed to unzip the file received from the transport object: unsafe entry \.\.\/evil\.txt/);
    await nothingCreated();
  });

  it('files that do not match the manifest fail: missing, or the same content twice', async () => {
    const zip = buildZip([{ name: 'a.txt', data: 'A' }]);
    const manifest = {
      [sha1('A')]: { filename: 'a.txt', sha1: sha1('A'), size: 1 },
      [sha1('B')]: { filename: 'b.txt', sha1: sha1('B'), size: 1 },
    };
    const missing = await readyNow(zip, { filesmanifest: manifest, zipfilesha1: sha1(zip), zipfilesize: zip.length, totalsize: 2 });
    expect(missing.message).toBe('Files received did not exactly match what was in the manifest: missing b.txt');
    const twice = buildZip([
      { name: 'a.txt', data: 'A' },
      { name: 'copy.txt', data: 'A' },
    ]);
    const dup = await readyNow(twice, { filesmanifest: { [sha1('A')]: manifest[sha1('A')]! }, zipfilesha1: sha1(twice), zipfilesize: twice.length, totalsize: 1 });
    expect(dup.message).toBe(`Files received did not exactly match what was in the manifest: duplicate content ${sha1('A')}`);
    await nothingCreated();
  });

  it('when the second file goes over quota, neither file remains (§10 item 30)', async () => {
    const zip = buildZip([
      { name: 'a.txt', data: 'A'.repeat(600) },
      { name: 'b.txt', data: 'B'.repeat(600) },
    ]);
    const data = await importDataFor(zip);
    await db()('users').where({ id: userId }).update({ quota: 1000 });
    // The declared total fits (a sender may understate it); the real sizes do not.
    const f = await readyNow(zip, { ...data, totalsize: 900 });
    expect(f.message).toBe('Failed to create some new artefacts');
    await nothingCreated();
    expect((await db()('users').where({ id: userId }).first()).quota_used).toEqual(expect.anything());
    expect(Number((await db()('users').where({ id: userId }).first()).quota_used)).toBe(0);
  });

  it('a LEAP2A export without leap2a.xml is "Invalid importdata: Missing leap xml file" while the student waits', async () => {
    const zip = fileZip();
    expect((await readyNow(zip, await importDataFor(zip), 'leap2a')).message).toBe('Invalid importdata: Missing leap xml file');
    // The same package through the queue is recorded in Mahara's cron wording.
    const token = await intent();
    exports.offer(token, zip);
    await value(MethodPath.sendContentReady, [token, 'amelia', 'leap2a', await importDataFor(zip), '']);
    await processIncomingContentQueue(running.services.imports);
    expect(await db()('import_queue').where({ token }).first()).toMatchObject({ lasterror: 'Missing leap xml file' });
    await db()('import_queue').delete();
    await nothingCreated();
  });

  it('a queued import that fails is retried from the cached zip: Moodle is asked once', async () => {
    await db()('import_queue').delete();
    const zip = fileZip();
    const token = await intent();
    exports.offer(token, zip);
    expect(await value(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(zip), ''])).toEqual({ status: true, type: 'queued' });
    // Room for one of the two files (1,932 and 2,455 bytes), not for both.
    await db()('users').where({ id: userId }).update({ quota: 3000 });
    const first = await processIncomingContentQueue(running.services.imports);
    expect(first).toMatchObject({ imported: 0, retrying: 1 });
    const row = await db()('import_queue').where({ token }).first();
    expect(row).toMatchObject({ state: 'queued', attempts: 1, lasterror: 'Failed to create some new artefacts' });
    expect(row.zippath).toBeTruthy();
    await nothingCreated();
    // Not due again yet (backoff); an admin's retry makes it due now.
    expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ imported: 0, retrying: 0 });
    await db()('users').where({ id: userId }).update({ quota: 52428800 });
    expect(await requeueItem(db(), row.id)).toBe(true);
    expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ imported: 1 });
    expect(exports.fetches).toEqual([token]);
    expect(await db()('artefacts').whereIn('artefacttype', ['file', 'image'])).toHaveLength(2);
    expect(fs.existsSync(row.zippath)).toBe(false);
    expect(fs.readdirSync(path.join(running.services.config.dataDir, 'import'))).toEqual([]);
    await db()('artefacts').delete();
    await db()('blobs').delete();
    fs.rmSync(path.join(running.services.config.dataDir, 'files'), { recursive: true, force: true });
  });

  it('a user suspended between intent and cron: the transfer fails at once, nothing fetched (§8 row 42)', async () => {
    await db()('import_queue').delete();
    const token = await intent();
    exports.offer(token, fileZip());
    await value(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(fileZip()), '']);
    await db()('users').where({ id: userId }).update({ login_allowed: false });
    try {
      expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ failed: 1, retrying: 0 });
    } finally {
      await db()('users').where({ id: userId }).update({ login_allowed: true });
    }
    expect(await db()('import_queue').where({ token }).first()).toMatchObject({ state: 'failed', attempts: 1, lasterror: 'Import user no longer active' });
    expect(await db()('import_history').where({ token })).toMatchObject([{ outcome: 'failed', message: 'Import user no longer active' }]);
    expect(exports.fetches).toEqual([]);
    await nothingCreated();
    await db()('import_queue').delete();
  });

  it('an expired row is deleted by the next run without any fetch, whatever its state', async () => {
    const token = await intent();
    exports.offer(token, fileZip());
    await value(MethodPath.sendContentReady, [token, 'amelia', 'file', await importDataFor(fileZip()), '']);
    const idle = await intent();
    await db()('import_queue').whereIn('token', [token, idle]).update({ expirytime: new Date(Date.now() - 1000) });
    expect(await processIncomingContentQueue(running.services.imports)).toMatchObject({ expired: 2, imported: 0 });
    expect(exports.fetches).toEqual([]);
    expect(await db()('import_queue').whereIn('token', [token, idle])).toHaveLength(0);
    expect((await db()('import_history').whereIn('token', [token, idle])).map((h) => h.outcome)).toEqual(['expired', 'expired']);
  });
});

function sha1(data: Buffer | string): string {
  return crypto.createHash('sha1').update(data).digest('hex');
}
