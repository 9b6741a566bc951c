import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.js';
import { getPeerIdentitySettings } from '../../src/identity/peer-settings.js';
import { findOrCreateRemoteUser } from '../../src/identity/remote-users.js';
import { createUser, findUserByUsername } from '../../src/identity/users.js';
import { findPeer, savePeer, type Peer } from '../../src/mnet/peers.js';
import type { Services } from '../../src/services.js';
import { engines, type TestDb } from '../helpers/db.js';
import { MOODLE_CERT } from '../helpers/fixtures.js';
import { createTestServices } from '../helpers/services.js';

/**
 * The identity commands (peer edit/show identity flags, user list/allow-login/deny-login), run in-process
 * through runCommand: the same code the CLI runs, without a child process per call.
 */
const WWWROOT = 'https://lms.example.edu';

describe.each(engines)('CLI identity commands ($name)', (engine) => {
  let testDb: TestDb;
  let services: Services;
  let peer: Peer;

  beforeAll(async () => {
    testDb = await engine.create();
    services = await createTestServices({ db: testDb.db, env: { WWWROOT: 'http://mahara.test' } });
    peer = await savePeer(
      testDb.db,
      { wwwroot: WWWROOT, name: 'LMS', application: 'moodle', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') },
      new Date(),
    );
  });

  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
  });

  async function run(...argv: string[]): Promise<{ code: number; output: string }> {
    const lines: string[] = [];
    const code = await runCommand(services, argv, (line) => lines.push(line));
    return { code, output: lines.join('\n') };
  }

  it('peer edit applies several service changes and an application change together, each on the current state', async () => {
    // The real pf service: on by default for Moodle peers, off for Mahara ones. From moodle to mahara,
    // then switch publishing on only.
    expect((await run('peer', 'edit', WWWROOT, '--app', 'mahara', '--publish', 'pf')).code).toBe(0);
    expect((await findPeer(testDb.db, WWWROOT))!.services.get('pf')).toEqual({ publish: true, subscribe: false });
    expect((await run('peer', 'edit', WWWROOT, '--unpublish', 'pf', '--subscribe', 'pf', '--app', 'moodle')).code).toBe(0);
    expect((await findPeer(testDb.db, WWWROOT))!.services.get('pf')).toEqual({ publish: false, subscribe: true });
  });

  it('peer edit --pair-with pairs two peers both ways, and none unpairs; peer show names the partner', async () => {
    const sis = await savePeer(
      testDb.db,
      { wwwroot: 'https://sis.example.edu', name: 'SIS', application: 'schooltool', publicKeyPem: MOODLE_CERT, publicKeyExpires: new Date('2099-01-01') },
      new Date(),
    );
    expect((await run('peer', 'edit', sis.wwwroot, '--pair-with', WWWROOT)).code).toBe(0);
    expect((await findPeer(testDb.db, sis.wwwroot))!.pairedPeerId).toBe(peer.id);
    expect((await findPeer(testDb.db, WWWROOT))!.pairedPeerId).toBe(sis.id);
    expect((await run('peer', 'show', WWWROOT)).output).toMatch(/paired with: +https:\/\/sis\.example\.edu/);
    expect((await run('peer', 'edit', WWWROOT, '--pair-with', 'none')).code).toBe(0);
    expect((await findPeer(testDb.db, sis.wwwroot))!.pairedPeerId).toBeNull();
    expect((await run('peer', 'edit', WWWROOT, '--pair-with', 'https://nowhere.example.edu')).code).toBe(1);
  });

  it('lists the new commands and options in the usage text', async () => {
    const { code, output } = await run('help');
    expect(code).toBe(0);
    for (const text of ['--sso-direction theyssoin|wessoout|none', '--import-content on|off', '--auto-create-users on|off', '--they-auto-create-users on|off', '--update-user-info on|off', 'user list', 'user allow-login <username>', 'user deny-login <username>']) {
      expect(output).toContain(text);
    }
  });

  it('peer show prints the identity settings, all off for a new peer', async () => {
    const { code, output } = await run('peer', 'show', WWWROOT);
    expect(code).toBe(0);
    expect(output).toMatch(/sso direction: +none/);
    expect(output).toMatch(/import content: +off/);
    expect(output).toMatch(/auto-create users: +off/);
    expect(output).toMatch(/they auto-create users: +off/);
    expect(output).toMatch(/update user info: +off/);
  });

  it('peer edit sets the direction and flags, and peer show reflects them', async () => {
    const edit = await run('peer', 'edit', WWWROOT, '--sso-direction', 'theyssoin', '--import-content', 'on', '--auto-create-users', 'on', '--update-user-info', 'on');
    expect(edit).toEqual({ code: 0, output: `updated ${WWWROOT}` });
    expect(await getPeerIdentitySettings(services.db, peer.id)).toEqual({
      theySsoIn: true,
      weSsoOut: false,
      weAutoCreateUsers: true,
      theyAutoCreateUsers: false,
      updateUserInfoOnLogin: true,
      weImportContent: true,
    });
    const { output } = await run('peer', 'show', WWWROOT);
    expect(output).toMatch(/sso direction: +theyssoin/);
    expect(output).toMatch(/import content: +on/);
    expect(output).toMatch(/update user info: +on/);
  });

  it('refuses a bad on/off value, a bad direction or contradictory flags with exit 1, changing nothing', async () => {
    const before = await getPeerIdentitySettings(services.db, peer.id);
    for (const argv of [
      ['--import-content', 'yes'],
      ['--sso-direction', 'sideways'],
      ['--sso-direction', 'wessoout', '--import-content', 'on'],
      ['--sso-direction', 'wessoout', '--name', 'Renamed', '--app', 'nonsense'],
    ]) {
      const result = await run('peer', 'edit', WWWROOT, ...argv);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.output).toMatch(/^error: /);
    }
    expect(await getPeerIdentitySettings(services.db, peer.id)).toEqual(before);
    expect((await findPeer(services.db, WWWROOT))?.name).toBe('LMS');
  });

  it('switching to wessoout clears the SP flags', async () => {
    expect((await run('peer', 'edit', WWWROOT, '--sso-direction', 'wessoout', '--they-auto-create-users', 'on')).code).toBe(0);
    const { output } = await run('peer', 'show', WWWROOT);
    expect(output).toMatch(/sso direction: +wessoout/);
    expect(output).toMatch(/import content: +off/);
    expect(output).toMatch(/they auto-create users: +on/);
  });

  it('user list says when there are no users', async () => {
    expect(await run('user', 'list')).toEqual({ code: 0, output: expect.stringContaining('no users yet') });
  });

  it('user list shows each user with origin, student id and login state', async () => {
    await createUser(services.db, { username: 'admin', firstName: 'Site', lastName: 'Admin', email: 'admin@example.edu' });
    await findOrCreateRemoteUser(services.db, peer, { username: 'JSmith', firstname: 'Jo', lastname: 'Smith', email: 'jo@lms.example.edu', idnumber: 'S-1' }, {
      create: true,
      updateProfile: false,
    });
    const { code, output } = await run('user', 'list');
    expect(code).toBe(0);
    expect(output.split('\n')).toEqual([
      'admin  "Site Admin"  <admin@example.edu>  local  login allowed',
      `jsmith  "Jo Smith"  <jo@lms.example.edu>  student id S-1  from ${WWWROOT}  login allowed`,
    ]);
  });

  it('user deny-login and allow-login switch a user found case-insensitively', async () => {
    expect(await run('user', 'deny-login', 'JSMITH')).toEqual({ code: 0, output: 'jsmith: login denied' });
    expect((await findUserByUsername(services.db, 'jsmith'))?.loginAllowed).toBe(false);
    expect((await run('user', 'list')).output).toContain('jsmith  "Jo Smith"  <jo@lms.example.edu>  student id S-1  from https://lms.example.edu  login DENIED');
    expect(await run('user', 'allow-login', 'jsmith')).toEqual({ code: 0, output: 'jsmith: login allowed' });
    expect((await findUserByUsername(services.db, 'jsmith'))?.loginAllowed).toBe(true);
  });

  it('an unknown user or a missing username is a readable error with exit 1', async () => {
    const unknown = await run('user', 'deny-login', 'nobody');
    expect(unknown.code).toBe(1);
    expect(unknown.output).toBe('error: No user named "nobody"; see: npm run cli -- user list');
    const missing = await run('user', 'allow-login');
    expect(missing).toEqual({ code: 1, output: 'error: expected exactly one username' });
  });
});
