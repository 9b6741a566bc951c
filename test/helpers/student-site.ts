import crypto from 'node:crypto';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { hashPassword } from '../../src/identity/passwords.js';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import type { Logger } from '../../src/log.js';
import type { XmlRpcStruct, XmlRpcValue } from '../../src/mnet/codec.js';
import { MethodPath } from '../../src/mnet/methods.js';
import type { TestEngine } from './db.js';
import { FakePeer, registerFakePeer } from './fake-peer.js';
import { importDataFor, MoodleExports } from './moodle-exports.js';
import { callUsForStruct, startServiceOn, type ServiceUnderTest } from './service-under-test.js';
import { createLocalUser, WebClient } from './web-client.js';

/**
 * The student pages' test site: our service, a fake Moodle ("Riverside Moodle") allowed to send content,
 * the student Amelia (created by Moodle's export, as in production, then given a password so a WebClient
 * can log in) and a second student, Bob. Content arrives only through the real export path.
 */
export const PASSWORD = 'correct horse battery staple';

export interface StudentSite {
  readonly service: ServiceUnderTest;
  readonly moodle: FakePeer;
  readonly exports: MoodleExports;
  readonly ameliaId: number;
  readonly amelia: WebClient;
  readonly bob: WebClient;
  /** Moodle's sequence for Amelia: intent, the package offered for fetch_file (unless `offer` is false), ready. */
  exportPackage(zip: Buffer, format: string, fetchnow: string, options?: { offer?: boolean }): Promise<{ token: string; ready: XmlRpcStruct }>;
  /** Only the intent: a transfer Moodle announced but never sent. */
  announce(): Promise<string>;
  stop(): Promise<void>;
}

export async function startStudentSite(engine: TestEngine['name'], log?: Logger): Promise<StudentSite> {
  // One failed attempt is final, so a transfer whose package is gone shows as failed after one queue run.
  const service = await startServiceOn(engine, { env: { PORTFOLIO_CRON: 'off', PORTFOLIO_MAX_ATTEMPTS: '1' }, ...(log ? { log } : {}) });
  const { db, keys } = service.running.services;
  const moodle = await FakePeer.start();
  const peer = await registerFakePeer(db, moodle, { wwwroot: service.wwwroot, certificatePem: (await keys.current()).certificatePem }, { name: 'Riverside Moodle' });
  await updatePeerIdentitySettings(db, peer.id, { weImportContent: true });
  const exports = new MoodleExports(moodle);
  const { user } = await findOrCreateRemoteUser(db, peer, { username: 'amelia', firstname: 'Amelia', lastname: 'Hart', email: 'a@example.test' }, { create: true, updateProfile: false });
  await db('users').where({ id: user.id }).update({ password_hash: await hashPassword(PASSWORD) });
  await createLocalUser(db, { username: 'bob', password: PASSWORD, firstName: 'Bob', lastName: 'Stone' });
  const amelia = new WebClient(service.wwwroot);
  await amelia.login(user.username, PASSWORD);
  const bob = new WebClient(service.wwwroot);
  await bob.login('bob', PASSWORD);

  const value = (method: string, params: XmlRpcValue[]) => callUsForStruct(moodle, service, method, params);
  async function announce(): Promise<string> {
    return (await value(MethodPath.sendContentIntent, ['amelia'])).token as string;
  }

  return {
    service,
    moodle,
    exports,
    ameliaId: user.id,
    amelia,
    bob,
    announce,
    async exportPackage(zip, format, fetchnow, options = {}) {
      const token = await announce();
      if (options.offer !== false) exports.offer(token, zip);
      const ready = await value(MethodPath.sendContentReady, [token, 'amelia', format, await importDataFor(zip), fetchnow]);
      return { token, ready };
    },
    async stop() {
      await moodle.stop();
      await service.stop();
    },
  };
}

/** A download as bytes (WebClient reads bodies as text), with the client's session cookie. */
export async function download(client: WebClient, path: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const response = await fetch(client.wwwroot + path, { headers: { Cookie: cookie }, redirect: 'manual' });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

export function sha1(data: Buffer): string {
  return crypto.createHash('sha1').update(data).digest('hex');
}

/** `/artefact/file/?folder=…&file=…&` from a content_ready answer's querystring. */
export function ids(querystring: unknown): { folder: number; file: number } {
  const m = /^\?folder=(\d+)&file=(\d+)&$/.exec(String(querystring));
  if (!m) throw new Error(`not a file import querystring: ${String(querystring)}`);
  return { folder: Number(m[1]), file: Number(m[2]) };
}
