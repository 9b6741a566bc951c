import { MethodPath, type MethodRegistry } from '../mnet/methods.js';
import { findRemoteUser } from './remote-users.js';
import { endSessionsOfUser } from './sessions.js';

/** Moodle's service name for what a service provider offers its IdP (§7.1). */
export const SSO_SP_SERVICE = 'sso_sp';

/**
 * `sso_sp` (§7.1, §7.2): the methods a Moodle IdP calls on us as its service provider. Published by
 * default to Moodle and Mahara peers; whether their users may land at all is the peer's theySsoIn flag.
 */
export function registerSsoSpMethods(registry: MethodRegistry): void {
  registry.registerService({
    name: SSO_SP_SERVICE,
    description: 'Single sign-on, this site as service provider: logout propagation and keep-alive',
    publishedByDefaultTo: ['moodle', 'mahara'],
    subscribedByDefaultTo: [],
  });

  registry.register({
    path: MethodPath.killChild,
    service: SSO_SP_SERVICE,
    params: [
      { name: 'username', type: 'string', description: 'the username at the calling IdP' },
      { name: 'useragent', type: 'string', description: 'SHA-1 of the browser User-Agent (ignored)' },
    ],
    returns: { type: 'boolean', description: 'true when the user is known here, false otherwise' },
    help: 'Ends every session of the user the caller knows by this username (the IdP logged them out).',
    // §8.5: like Mahara we ignore the UA hash and end all of the user's sessions, since a browser's
    // User-Agent changes across updates and a stale hash must not keep a session alive after logout.
    handler: async (params, ctx) => {
      const username = params[0];
      if (typeof username !== 'string' || username === '') return false;
      const user = await findRemoteUser(ctx.db, ctx.peer, username);
      if (!user) return false;
      const ended = await endSessionsOfUser(ctx.db, user.id);
      ctx.log.info('kill_child: ended sessions', { idp: ctx.peer.wwwroot, username: user.username, sessions: ended });
      return true;
    },
  });

  registry.register({
    path: MethodPath.keepaliveClient,
    service: SSO_SP_SERVICE,
    params: [],
    returns: { type: 'boolean', description: 'always true' },
    help: 'Keep-alive ping; a no-op, as in Mahara (§8.6).',
    handler: async () => true,
  });
}
