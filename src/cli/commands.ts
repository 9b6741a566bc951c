import { parseArgs } from 'node:util';
import { FaultCode, MnetFault, toFault } from '../errors.js';
import { peerServiceSettings, setPeerService } from '../mnet/methods.js';
import {
  addPeer,
  deletePeer,
  normalisePeerWwwroot,
  parseApplication,
  refetchPeerKey,
  verifyPeer,
  type PeerAdminDeps,
} from '../mnet/peer-admin.js';
import { getPeer, listPeers, updatePeerSettings, type Peer } from '../mnet/peers.js';
import { pairPeers, parseSsoDirection, ssoDirectionOf, updatePeerIdentitySettings, type PeerIdentityChange } from '../identity/peer-settings.js';
import { findUserByUsername, listUsers, setLoginAllowed } from '../identity/users.js';
import { createPasswordLink, ensureAdmin } from '../identity/local-login.js';
import type { Services } from '../services.js';
import { PASSWORD_LINK_PATH } from '../web/login-routes.js';
import { QUEUE_USAGE, runQueueCommand } from './queue-commands.js';

export const USAGE = `Usage: npm run cli -- <command>

  migrate                               bring the database schema up to date
  peer add <wwwroot> [--name N] [--app moodle|mahara|schooltool]
                                        fetch the peer's certificate (keyswap) and register it
  peer list [--all]                     registered peers (--all: with deleted ones)
  peer show <wwwroot>                   one peer, its key and its service settings
  peer verify <wwwroot>                 keyswap + authenticated listServices; records last contact
  peer edit <wwwroot> [--name N] [--app A] [--publish S]... [--unpublish S]...
                      [--subscribe S]... [--unsubscribe S]...
                      [--sso-direction theyssoin|wessoout|none] [--import-content on|off]
                      [--auto-create-users on|off] [--they-auto-create-users on|off]
                      [--update-user-info on|off] [--pair-with <wwwroot>|none]
                                        change a peer's name, application, service or identity
                                        settings; --pair-with pairs a SchoolTool site with its Moodle
                                        (only paired peers' users are linked by idnumber)
  peer rekey <wwwroot>                  fetch the peer's current certificate (keyswap) and store it
  peer delete <wwwroot>                 soft-delete: the peer can no longer call us
  keys show                             our certificate, fingerprints and expiry
  keys rotate                           retire our key pair now and make a new one
  user list                             local users, with their login state and creating peer
  user allow-login <username>           let a user log in again
  user deny-login <username>            suspend a user's logins
  user password-link <username>         print a single-use link (24 h) that sets the user's password
  admin create <username>               make the user an admin (creating a local account if there is
                                        none) and print a single-use link that sets its password
${QUEUE_USAGE}`;

type Out = (line: string) => void;

/**
 * Every CLI command, run against open Services: in the CLI's own process when no server runs, or inside
 * the running server when asked over its control socket. Returns the exit code; user errors print a
 * readable message and exit 1.
 */
export async function runCommand(services: Services, argv: string[], out: Out): Promise<number> {
  try {
    return await dispatch(services, argv, out);
  } catch (err) {
    // node:util parseArgs refuses unknown options and stray arguments with ERR_PARSE_ARGS_* TypeErrors:
    // those are the admin's typing mistakes, not internal errors.
    const usage = typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('ERR_PARSE_ARGS_');
    const fault = usage ? new MnetFault(FaultCode.InvalidInput, (err as Error).message) : toFault(err);
    if (fault.code === FaultCode.Internal) services.log.error('command failed', { argv: argv.join(' '), error: err });
    out(`error: ${fault.expose ? fault.message : 'internal error (see the server log)'}`);
    return 1;
  }
}

async function dispatch(services: Services, argv: string[], out: Out): Promise<number> {
  const [group, action, ...rest] = argv;
  const deps: PeerAdminDeps = { db: services.db, client: services.client, log: services.log, now: services.now };
  const key = `${group ?? ''} ${action ?? ''}`.trim();
  switch (key) {
    case 'migrate':
      out('database schema is up to date');
      return 0;
    case 'peer add': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { name: { type: 'string' }, app: { type: 'string', default: 'moodle' } },
      });
      const peer = await addPeer(deps, { wwwroot: one(positionals, 'wwwroot'), name: values.name, application: parseApplication(values.app!) });
      out(`registered ${peer.wwwroot} (${peer.application}) as "${peer.name}"`);
      printPeer(peer, out);
      return 0;
    }
    case 'peer list': {
      const { values } = parseArgs({ args: rest, options: { all: { type: 'boolean', default: false } } });
      const peers = await listPeers(services.db, { includeDeleted: values.all });
      if (peers.length === 0) out('no peers registered; add one with: npm run cli -- peer add <wwwroot>');
      for (const p of peers) {
        const contact = p.lastConnectAt ? p.lastConnectAt.toISOString() : 'never';
        out(`${p.wwwroot}  ${p.application}  "${p.name}"  key expires ${day(p.publicKeyExpires)}  last contact ${contact}${p.deleted ? '  DELETED' : ''}`);
      }
      return 0;
    }
    case 'peer show': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const peer = await getPeer(services.db, normalisePeerWwwroot(one(positionals, 'wwwroot')));
      printPeer(peer, out);
      for (const s of peerServiceSettings(services.registry, peer)) {
        out(`  service ${s.service}: publish ${onOff(s.publish)}, subscribe ${onOff(s.subscribe)}${s.explicit ? '' : ' (default)'}`);
      }
      const settings = peer.settings;
      out(`  sso direction:          ${ssoDirectionOf(settings)}`);
      out(`  import content:         ${onOff(settings.weImportContent)}`);
      out(`  auto-create users:      ${onOff(settings.weAutoCreateUsers)}`);
      out(`  they auto-create users: ${onOff(settings.theyAutoCreateUsers)}`);
      out(`  update user info:       ${onOff(settings.updateUserInfoOnLogin)}`);
      const partner = peer.pairedPeerId === null ? undefined : (await listPeers(services.db, { includeDeleted: true })).find((p) => p.id === peer.pairedPeerId);
      out(`  paired with:            ${partner ? partner.wwwroot : 'none'}`);
      return 0;
    }
    case 'peer verify': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const check = await verifyPeer(deps, one(positionals, 'wwwroot'));
      out(`${check.peer.wwwroot}:`);
      out(`  reachable (keyswap):     ${check.reachable ? 'yes' : `no: ${check.keyswapError}`}`);
      if (check.reachable) out(`  key matches stored key:  ${check.keyMatches ? 'yes' : 'NO: the peer answers with another certificate'}`);
      out(`  authenticated call:      ${check.authenticated ? 'yes (system/listServices)' : `no: ${check.authError}`}`);
      if (check.clockOffsetSeconds !== undefined) out(`  clock offset:            ${check.clockOffsetSeconds.toFixed(1)} s`);
      for (const s of check.services ?? []) out(`  they offer ${s.name}: publish ${onOff(s.publish)}, subscribe ${onOff(s.subscribe)}`);
      out(`  stored key expires:      ${check.peer.publicKeyExpires.toISOString()}`);
      return check.reachable && check.keyMatches && check.authenticated ? 0 : 1;
    }
    case 'peer edit': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          name: { type: 'string' },
          app: { type: 'string' },
          publish: { type: 'string', multiple: true, default: [] },
          unpublish: { type: 'string', multiple: true, default: [] },
          subscribe: { type: 'string', multiple: true, default: [] },
          unsubscribe: { type: 'string', multiple: true, default: [] },
          'sso-direction': { type: 'string' },
          'import-content': { type: 'string' },
          'auto-create-users': { type: 'string' },
          'they-auto-create-users': { type: 'string' },
          'update-user-info': { type: 'string' },
          'pair-with': { type: 'string' },
        },
      });
      const peer = await getPeer(services.db, normalisePeerWwwroot(one(positionals, 'wwwroot')));
      const pairWith = values['pair-with'];
      const partner =
        pairWith === undefined || pairWith === 'none' ? null : await getPeer(services.db, normalisePeerWwwroot(pairWith));
      const changes: Array<[string, { publish?: boolean; subscribe?: boolean }]> = [
        ...values.publish!.map((s): [string, { publish: boolean }] => [s, { publish: true }]),
        ...values.unpublish!.map((s): [string, { publish: boolean }] => [s, { publish: false }]),
        ...values.subscribe!.map((s): [string, { subscribe: boolean }] => [s, { subscribe: true }]),
        ...values.unsubscribe!.map((s): [string, { subscribe: boolean }] => [s, { subscribe: false }]),
      ];
      // Check every argument before writing anything, so a typo in a service name changes nothing.
      const unknown = changes.find(([service]) => !services.registry.service(service));
      if (unknown) {
        const known = services.registry.listServices().map((s) => s.name).join(', ');
        throw new MnetFault(FaultCode.InvalidInput, `Unknown service "${unknown[0]}"; known services: ${known || 'none'}`);
      }
      const identity: PeerIdentityChange = {
        ...(values['sso-direction'] !== undefined ? { ssoDirection: parseSsoDirection(values['sso-direction']) } : {}),
        ...onOffOption(values, 'import-content', 'weImportContent'),
        ...onOffOption(values, 'auto-create-users', 'weAutoCreateUsers'),
        ...onOffOption(values, 'they-auto-create-users', 'theyAutoCreateUsers'),
        ...onOffOption(values, 'update-user-info', 'updateUserInfoOnLogin'),
      };
      const application = values.app !== undefined ? parseApplication(values.app) : undefined;
      // First, because it refuses contradictory flags before anything is written.
      if (Object.keys(identity).length > 0) await updatePeerIdentitySettings(services.db, peer.id, identity);
      await updatePeerSettings(services.db, peer.id, {
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(application !== undefined ? { application } : {}),
      });
      if (pairWith !== undefined) await pairPeers(services.db, peer, partner);
      // Re-read before each change: the flag not being set is kept from the current state, which the
      // application change and the previous service change may have moved.
      for (const [service, change] of changes) {
        await setPeerService(services.db, services.registry, await getPeer(services.db, peer.wwwroot), service, change);
      }
      out(`updated ${peer.wwwroot}`);
      return 0;
    }
    case 'peer rekey': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const result = await refetchPeerKey(deps, one(positionals, 'wwwroot'));
      out(`${result.peer.wwwroot}: old key SHA1 ${result.oldFingerprint}`);
      out(`${result.peer.wwwroot}: new key SHA1 ${result.newFingerprint}${result.oldFingerprint === result.newFingerprint ? ' (unchanged)' : ' (stored)'}`);
      out(`  key expires: ${result.peer.publicKeyExpires.toISOString()}`);
      return 0;
    }
    case 'peer delete': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const peer = await deletePeer(deps, one(positionals, 'wwwroot'));
      out(`deleted ${peer.wwwroot}; it can no longer call us (add it again to restore it)`);
      return 0;
    }
    case 'keys show': {
      const current = await services.keys.current();
      const all = await services.keys.decryptionKeys();
      out(`wwwroot:      ${services.config.wwwroot}`);
      out(`fingerprint:  SHA1 ${current.sha1Fingerprint}`);
      out(`expires:      ${current.expires.toISOString()}`);
      out(`old keys kept for decryption: ${all.length - 1}`);
      out('certificate (paste into the peer if it asks for it):');
      for (const line of current.certificatePem.trimEnd().split('\n')) out(line);
      return 0;
    }
    case 'keys rotate': {
      const fresh = await services.keys.rotate();
      out(`new key pair: SHA1 ${fresh.sha1Fingerprint}, expires ${fresh.expires.toISOString()}`);
      out('peers learn it from fault 7025 on their next call; the old pair still opens their requests');
      return 0;
    }
    case 'user list': {
      parseArgs({ args: rest });
      const users = await listUsers(services.db);
      const peers = new Map((await listPeers(services.db, { includeDeleted: true })).map((p) => [p.id, p.wwwroot]));
      if (users.length === 0) out('no users yet; they are created when they first sign on from a peer');
      for (const u of users) {
        const origin = u.createdByPeerId === null ? 'local' : `from ${peers.get(u.createdByPeerId) ?? `peer ${u.createdByPeerId}`}`;
        const studentId = u.studentId === null ? '' : `  student id ${u.studentId}`;
        out(`${u.username}  "${`${u.firstName} ${u.lastName}`.trim()}"  <${u.email}>${studentId}  ${origin}  login ${u.loginAllowed ? 'allowed' : 'DENIED'}`);
      }
      return 0;
    }
    case 'user allow-login':
    case 'user deny-login': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const username = one(positionals, 'username');
      const user = await findUserByUsername(services.db, username);
      if (!user) throw new MnetFault(FaultCode.InvalidInput, `No user named "${username}"; see: npm run cli -- user list`);
      const allowed = action === 'allow-login';
      await setLoginAllowed(services.db, user.id, allowed, services.now());
      out(`${user.username}: login ${allowed ? 'allowed' : 'denied'}`);
      return 0;
    }
    case 'admin create':
    case 'user password-link': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const username = one(positionals, 'username');
      let user = await findUserByUsername(services.db, username);
      if (group === 'admin') {
        const made = await ensureAdmin(services.db, username, services.now());
        user = made.user;
        out(`${user.username} is ${made.created ? 'a new local account and ' : ''}an admin`);
      }
      if (!user) throw new MnetFault(FaultCode.InvalidInput, `No user named "${username}"; see: npm run cli -- user list`);
      const token = await createPasswordLink(services.db, user.id, services.now());
      out(`open this link within 24 hours to set the password of ${user.username} (it works once):`);
      out(`  ${services.config.wwwroot}${PASSWORD_LINK_PATH.replace(':token', token)}`);
      return 0;
    }
    default: {
      const handled = await runQueueCommand(services, key, rest, out);
      if (handled !== undefined) return handled;
      out(group === undefined || group === 'help' ? USAGE.trimEnd() : `unknown command "${argv.join(' ')}"\n\n${USAGE.trimEnd()}`);
      return group === undefined || group === 'help' ? 0 : 1;
    }
  }
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new MnetFault(FaultCode.InvalidInput, `expected exactly one ${what}`);
  return positionals[0]!;
}

function printPeer(peer: Peer, out: Out): void {
  out(`  wwwroot:     ${peer.wwwroot}${peer.deleted ? ' (deleted)' : ''}`);
  out(`  name:        ${peer.name}`);
  out(`  application: ${peer.application} (endpoint ${peer.wwwroot}${peer.xmlrpcServerPath})`);
  out(`  key expires: ${peer.publicKeyExpires.toISOString()}`);
  out(`  last contact: ${peer.lastConnectAt ? peer.lastConnectAt.toISOString() : 'never'}`);
}

const onOff = (b: boolean) => (b ? 'on' : 'off');
const day = (d: Date) => d.toISOString().slice(0, 10);

/** `--option on|off` as a PeerIdentityChange member; absent options change nothing. */
function onOffOption<K extends Exclude<keyof PeerIdentityChange, 'ssoDirection'>>(
  values: Record<string, unknown>,
  option: string,
  field: K,
): Partial<Record<K, boolean>> {
  const value = values[option];
  if (value === undefined) return {};
  if (value !== 'on' && value !== 'off') throw new MnetFault(FaultCode.InvalidInput, `--${option} expects on or off, not "${String(value)}"`);
  return { [field]: value === 'on' } as Partial<Record<K, boolean>>;
}
