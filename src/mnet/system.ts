import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import { parsePeerCertificate } from './certificate.js';
import type { XmlRpcValue } from './codec.js';
import type { KeyStore } from './keys.js';
import {
  MethodPath,
  SYSTEM_SERVICE,
  isPublishedTo,
  peerServiceSettings,
  type MethodDefinition,
  type MethodRegistry,
} from './methods.js';
import { findPeer, insertPeerIfAbsent, type ApplicationName } from './peers.js';
import { trimWwwroot } from './wwwroot.js';

/**
 * Mahara's four service containers, always listed with every flag 1 (§6, checklist 38): Mahara peers and
 * old tooling expect exactly these names.
 */
const MAHARA_CONTAINERS = ['sso_in', 'sso_out', 'portfolio_in', 'repository_out'];

/** Registers system/listServices, listMethods, methodSignature and methodHelp (§6). */
export function registerSystemMethods(registry: MethodRegistry): void {
  const system = (def: Omit<MethodDefinition, 'service'>) => registry.register({ service: SYSTEM_SERVICE, ...def });

  system({
    path: MethodPath.listServices,
    params: [],
    returns: { type: 'array', description: 'services as {name, apiversion, publish, subscribe}' },
    help: 'Lists the services this site offers, with what it publishes to and subscribes from the caller.',
    handler: async (_params, ctx) => {
      const fixed = MAHARA_CONTAINERS.map((name) => ({ name, apiversion: 1, publish: 1, subscribe: 1 }));
      // Our own services with truthful per-peer flags, so Moodle's peer screen shows what really works.
      const ours = peerServiceSettings(registry, ctx.peer)
        .filter((s) => s.publish || s.subscribe)
        .map((s) => ({ name: s.service, apiversion: 1, publish: s.publish ? 1 : 0, subscribe: s.subscribe ? 1 : 0 }));
      return [...fixed, ...ours];
    },
  });

  system({
    path: MethodPath.listMethods,
    params: [{ name: 'service', type: 'string', description: 'optional service name to list' }],
    returns: { type: 'array', description: 'method paths' },
    help: 'Lists the method paths the caller may call, optionally of one service.',
    handler: async (params, ctx) => {
      const wanted = typeof params[0] === 'string' && params[0] !== '' ? params[0] : undefined;
      const paths: string[] = [];
      for (const path of registry.listMethods(wanted)) {
        const method = registry.find(path)!;
        if (isPublishedTo(registry, ctx.peer, method.service)) paths.push(path);
      }
      return paths;
    },
  });

  system({
    path: MethodPath.methodSignature,
    params: [{ name: 'method', type: 'string', description: 'full method path or short function name' }],
    returns: { type: 'struct', description: '{parameters, return}, or false when unknown' },
    help: 'Describes the parameters and result of a method.',
    handler: async (params) => {
      const method = lookUp(registry, params[0]);
      if (!method) return false; // never <nil/> (§2.2, checklist 40)
      return {
        parameters: method.params.map((p) => ({ name: p.name, type: p.type, description: p.description })),
        return: { type: method.returns.type, description: method.returns.description },
      };
    },
  });

  system({
    path: MethodPath.methodHelp,
    params: [{ name: 'method', type: 'string', description: 'full method path or short function name' }],
    returns: { type: 'string', description: 'help text, or false when unknown' },
    help: 'Returns the help text of a method.',
    handler: async (params) => lookUp(registry, params[0])?.help ?? false,
  });
}

/** Mahara looks signatures up by short function name, Moodle by full path; we accept both (§6). */
function lookUp(registry: MethodRegistry, name: XmlRpcValue | undefined): MethodDefinition | undefined {
  if (typeof name !== 'string' || name === '') return undefined;
  const exact = registry.find(name);
  if (exact) return exact;
  const matches = registry.listMethods().filter((p) => p.endsWith(`/${name}`));
  return matches.length === 1 ? registry.find(matches[0]!) : undefined;
}

export interface KeyswapDeps {
  db: Knex;
  keys: KeyStore;
  promiscuous: boolean;
  now: () => Date;
  log: Logger;
}

/**
 * system/keyswap (§5.4): answers our current certificate, to anyone, plain or wrapped. It never replaces a
 * known peer's stored key (anyone could call it); only in promiscuous mode does it register an unknown
 * caller whose certificate belongs to the wwwroot it claims.
 */
export async function keyswap(params: readonly XmlRpcValue[], deps: KeyswapDeps): Promise<string> {
  const ours = (await deps.keys.current()).certificatePem;
  const [claimed, pem, app] = params;
  if (!deps.promiscuous || typeof claimed !== 'string' || typeof pem !== 'string') return ours;
  const wwwroot = trimWwwroot(claimed);
  // Only a web address we could later call back, and short enough for the peers table.
  if (!/^https?:\/\/[^/?#@\s]+(\/[^?#\s]*)?$/.test(wwwroot) || wwwroot.length > 255) return ours;
  if (await findPeer(deps.db, wwwroot, { includeDeleted: true })) return ours;
  try {
    const cert = parsePeerCertificate(pem, wwwroot);
    // Moodle sends the *target's* application name (ours) as the third parameter, so it says nothing
    // about the caller; only an explicit other type is taken at its word.
    const application: ApplicationName = app === 'schooltool' ? 'schooltool' : 'moodle';
    const peer = { wwwroot, name: wwwroot.slice(0, 80), application, publicKeyPem: cert.pem, publicKeyExpires: cert.validTo };
    if (await insertPeerIfAbsent(deps.db, peer, deps.now())) {
      deps.log.info('registered a peer through promiscuous keyswap', { wwwroot, application });
    }
  } catch (err) {
    if (!(err instanceof MnetFault) || err.code !== FaultCode.InvalidCertificate) throw err;
    deps.log.warn('promiscuous keyswap refused a certificate', { wwwroot, reason: err.message });
  }
  return ours;
}
