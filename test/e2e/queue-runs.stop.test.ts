import { afterAll, describe, expect, it } from 'vitest';
import { updatePeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { createLogger } from '../../src/log.js';
import { MethodPath } from '../../src/mnet/methods.js';
import { engines } from '../helpers/db.js';
import { FakePeer, registerFakePeer } from '../helpers/fake-peer.js';
import { fixtureZip, importDataFor, MoodleExports } from '../helpers/moodle-exports.js';
import { callUsForStruct, startServiceOn } from '../helpers/service-under-test.js';

/** A queue run an admin started ("Retry now") is not cut off by a graceful stop: the stop waits for it. */
describe.each(engines)('graceful stop with a queue run started on demand ($name)', (engine) => {
  let moodle: FakePeer | undefined;
  afterAll(async () => {
    await moodle?.stop();
  });

  it('finishes the running import before the database closes', async () => {
    const lines: string[] = [];
    const service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' }, log: createLogger('info', (line) => lines.push(line)) });
    const { db, keys, queueRuns } = service.running.services;
    moodle = await FakePeer.start();
    const peer = await registerFakePeer(db, moodle, { wwwroot: service.wwwroot, certificatePem: (await keys.current()).certificatePem });
    await updatePeerIdentitySettings(db, peer.id, { weImportContent: true });
    await findOrCreateRemoteUser(db, peer, { username: 'amelia', firstname: 'A', lastname: 'H', email: 'a@example.test' }, { create: true, updateProfile: false });
    const exports = new MoodleExports(moodle);
    // Moodle takes its time to serve the package: the stop comes while the run waits for it.
    const serve = moodle.handlers.get('portfolio/mahara/lib.php/fetch_file')!;
    moodle.handlers.set('portfolio/mahara/lib.php/fetch_file', async (params, caller) => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return serve(params, caller);
    });
    const { token } = await callUsForStruct(moodle, service, MethodPath.sendContentIntent, ['amelia']);
    const zip = fixtureZip('file-format-assign-files.zip');
    exports.offer(token as string, zip);
    await callUsForStruct(moodle, service, MethodPath.sendContentReady, [token!, 'amelia', 'file', await importDataFor(zip), '']);

    queueRuns.start('test');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await service.stop();
    const finished = lines.findIndex((l) => l.includes('queue run finished'));
    const stopped = lines.findIndex((l) => / INFO stopped$/m.test(l));
    expect(finished, lines.join('')).toBeGreaterThanOrEqual(0);
    expect(lines[finished]).toContain('imported=1');
    expect(stopped).toBeGreaterThan(finished);
  });
});
