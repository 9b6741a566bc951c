import type { Knex } from 'knex';
import { FaultCode, MnetFault } from '../errors.js';
import type { Logger } from '../log.js';
import type { XmlRpcValue } from './codec.js';
import { forgetCachedPeers, type ApplicationName, type Peer } from './peers.js';

/**
 * Every Moodle/Mahara method path we serve or call is named here and nowhere else (style.md), so a grep
 * for a path lands in one table. Values are the exact strings on the wire (§2.1, §7.2).
 */
export const MethodPath = {
  keyswap: 'system/keyswap',
  listServices: 'system/listServices',
  listMethods: 'system/listMethods',
  methodSignature: 'system/methodSignature',
  methodHelp: 'system/methodHelp',
  /** SSO, we are SP: called on the IdP (§8.3), and served to it (§8.5, §8.6). */
  userAuthorise: 'auth/mnet/auth.php/user_authorise',
  killChild: 'auth/mnet/auth.php/kill_child',
  keepaliveClient: 'auth/mnet/auth.php/keepalive_client',
  /** SSO, we are IdP: served to SPs (§8.2, §8.5, §8.6); kill_child is also called on them (§8.5). */
  fetchUserImage: 'auth/mnet/auth.php/fetch_user_image',
  updateEnrolments: 'auth/mnet/auth.php/update_enrolments',
  keepaliveServer: 'auth/mnet/auth.php/keepalive_server',
  killChildren: 'auth/mnet/auth.php/kill_children',
  /** Portfolio transfer (§7.4): Moodle calls the first two on us; we call fetch_file on Moodle. */
  sendContentIntent: 'portfolio/mahara/lib.php/send_content_intent',
  sendContentReady: 'portfolio/mahara/lib.php/send_content_ready',
  fetchFile: 'portfolio/mahara/lib.php/fetch_file',
  /** The design note's names for the same two calls (portfolio-import.md §1.5). */
  contentIntent: 'portfolio/content_intent',
  contentReady: 'portfolio/content_ready',
  /**
   * SchoolTool (§10): function names only. No source defines their paths, so they are registered under
   * the configurable SCHOOLTOOL_METHOD_PREFIX (default `schooltool/mnet.php/`, src/schooltool/methods.ts).
   */
  schooltoolFetchUser: 'fetch_user',
  schooltoolNewSection: 'new_section',
  schooltoolNewEnrolment: 'new_enrolment',
  schooltoolNewAssessment: 'new_assessment',
  schooltoolNewGrade: 'new_grade',
} as const;

/** What a handler learns about the call: the authenticated peer, the database, the time. */
export interface CallContext {
  readonly peer: Peer;
  readonly db: Knex;
  readonly now: Date;
  readonly log: Logger;
}

export interface MethodParam {
  readonly name: string;
  readonly type: string;
  readonly description: string;
}

export interface MethodDefinition {
  readonly path: string;
  /** The service (container) this method belongs to; `system` methods are open to every authenticated peer. */
  readonly service: string;
  readonly params: readonly MethodParam[];
  readonly returns: { readonly type: string; readonly description: string };
  readonly help: string;
  handler(params: readonly XmlRpcValue[], ctx: CallContext): Promise<XmlRpcValue>;
}

export interface ServiceDefinition {
  readonly name: string;
  readonly description: string;
  /** Peers of these application types may call the service unless an admin says otherwise (§7.1). */
  readonly publishedByDefaultTo: readonly ApplicationName[];
  /** We call this service's methods on peers of these types unless an admin says otherwise. */
  readonly subscribedByDefaultTo: readonly ApplicationName[];
  /**
   * The service's methods that we call on peers. Like Moodle's client (§7.1), ours refuses locally to call
   * one on a peer that we do not subscribe to for this service.
   */
  readonly remoteMethods?: readonly string[];
}

export const SYSTEM_SERVICE = 'system';

/**
 * The data-driven method table (§7.2): modules register services and methods at start-up; the
 * dispatcher looks paths up here. An unknown path is NoSuchMethod; nothing is found by scanning files.
 */
export class MethodRegistry {
  private readonly services = new Map<string, ServiceDefinition>();
  private readonly methods = new Map<string, MethodDefinition>();
  private readonly remoteMethods = new Map<string, string>();

  registerService(service: ServiceDefinition): void {
    if (this.services.has(service.name)) throw new Error(`service ${service.name} registered twice`);
    for (const path of service.remoteMethods ?? []) {
      if (this.remoteMethods.has(path)) throw new Error(`remote method ${path} claimed by two services`);
      this.remoteMethods.set(path, service.name);
    }
    this.services.set(service.name, service);
  }

  /** The service a method we call on peers belongs to, if any service claims it. */
  serviceOfRemoteMethod(path: string): string | undefined {
    return this.remoteMethods.get(path);
  }

  register(method: MethodDefinition): void {
    if (!isValidMethodName(method.path)) throw new Error(`invalid method path ${method.path}`);
    if (this.methods.has(method.path)) throw new Error(`method ${method.path} registered twice`);
    if (method.service !== SYSTEM_SERVICE && !this.services.has(method.service)) {
      throw new Error(`method ${method.path} names unknown service ${method.service}`);
    }
    this.methods.set(method.path, method);
  }

  find(path: string): MethodDefinition | undefined {
    return this.methods.get(path);
  }

  service(name: string): ServiceDefinition | undefined {
    return this.services.get(name);
  }

  listServices(): ServiceDefinition[] {
    return [...this.services.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Method paths, sorted, optionally of one service (Moodle's listMethods form, §6). */
  listMethods(service?: string): string[] {
    return [...this.methods.values()]
      .filter((m) => service === undefined || m.service === service)
      .map((m) => m.path)
      .sort();
  }
}

// Moodle's validator (§2.1): first segment, a run that may contain dots (so `repository.class.php` passes),
// an optional `.php/`, and a final function name.
const METHOD_NAME = /^[A-Za-z0-9]+\/[A-Za-z0-9/_.-]*(\.php\/)?[A-Za-z0-9_-]+$/;

/** Moodle's pattern plus our own refusal of `..` segments and a leading slash (§2.1, checklist 43). */
export function isValidMethodName(name: string): boolean {
  return METHOD_NAME.test(name) && !name.includes('..');
}

export interface PeerServiceSetting {
  readonly service: string;
  readonly publish: boolean;
  readonly subscribe: boolean;
  /** False when the value is the service's default rather than an admin's choice. */
  readonly explicit: boolean;
}

/** The effective publish/subscribe settings of every registered service for one peer. */
export function peerServiceSettings(registry: MethodRegistry, peer: Peer): PeerServiceSetting[] {
  return registry.listServices().map((s) => {
    const row = peer.services.get(s.name);
    return row
      ? { service: s.name, publish: row.publish, subscribe: row.subscribe, explicit: true }
      : {
          service: s.name,
          publish: s.publishedByDefaultTo.includes(peer.application),
          subscribe: s.subscribedByDefaultTo.includes(peer.application),
          explicit: false,
        };
  });
}

export async function setPeerService(
  db: Knex,
  registry: MethodRegistry,
  peer: Peer,
  service: string,
  change: { publish?: boolean; subscribe?: boolean },
): Promise<PeerServiceSetting> {
  const current = peerServiceSettings(registry, peer).find((s) => s.service === service);
  if (!current) {
    const known = registry.listServices().map((s) => s.name).join(', ');
    throw new MnetFault(FaultCode.InvalidInput, `Unknown service "${service}"; known services: ${known || 'none'}`);
  }
  const next = { publish: change.publish ?? current.publish, subscribe: change.subscribe ?? current.subscribe };
  await db('peer_services')
    .insert({ peer_id: peer.id, service, ...next })
    .onConflict(['peer_id', 'service'])
    .merge(next);
  forgetCachedPeers(db);
  return { service, ...next, explicit: true };
}

/** Strict dispatcher rule: may this peer call methods of this service on us? */
export function isPublishedTo(registry: MethodRegistry, peer: Peer, service: string): boolean {
  if (service === SYSTEM_SERVICE) return true;
  const explicit = peer.services.get(service);
  if (explicit) return explicit.publish;
  return registry.service(service)?.publishedByDefaultTo.includes(peer.application) ?? false;
}

/** Client rule (§7.1): may we call this service's methods on this peer? */
export function isSubscribedTo(registry: MethodRegistry, peer: Peer, service: string): boolean {
  const explicit = peer.services.get(service);
  if (explicit) return explicit.subscribe;
  return registry.service(service)?.subscribedByDefaultTo.includes(peer.application) ?? false;
}
