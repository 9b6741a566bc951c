import type Koa from 'koa';
import { FaultCode, MnetFault } from '../../errors.js';
import { findUserById, type User } from '../../identity/users.js';
import { listPeers } from '../../mnet/peers.js';
import type { Services } from '../../services.js';
import { parseId } from '../format.js';

/** What the user list, the user page and its actions share. */
export const USERS_PATH = '/admin/users/';

export function userPath(user: Pick<User, 'id'>, action = ''): string {
  return `${USERS_PATH}${user.id}${action === '' ? '' : `/${action}`}`;
}

/** The user an admin page is about: `:id` must be digits naming an existing user, else 404. */
export async function userOfPath(ctx: Koa.Context, services: Services): Promise<User> {
  const id = parseId(ctx.params.id);
  const user = id === undefined ? undefined : await findUserById(services.db, id);
  if (!user) throw new MnetFault(FaultCode.NotFound, 'There is no such user.');
  return user;
}

export type PeerNames = ReadonlyMap<number, { readonly name: string; readonly wwwroot: string }>;

/** Every peer by id, deleted ones too: a deleted peer's users still came from it. */
export async function peerNames(services: Services): Promise<PeerNames> {
  const peers = await listPeers(services.db, { includeDeleted: true });
  return new Map(peers.map((p) => [p.id, { name: p.name, wwwroot: p.wwwroot }]));
}

/** "local", or the peer whose SSO or SchoolTool call created the account. */
export function originOf(user: User, peers: PeerNames): string {
  if (user.createdByPeerId === null) return 'local';
  const peer = peers.get(user.createdByPeerId);
  return peer ? `${peer.name} (${peer.wwwroot})` : `peer ${user.createdByPeerId}`;
}
