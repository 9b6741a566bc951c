import type Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { mountAdminHome } from './home.js';
import { mountAdminPeers } from './peers.js';
import { mountAdminPlugins } from './plugins.js';
import { mountAdminQueue } from './queue.js';
import { mountAdminUsers } from './users.js';

/** The admin console under /admin/: every route behind guards.admin (and guards.form for posts). */
export function mountAdminRoutes(router: Router, services: Services, guards: Guards): void {
  mountAdminHome(router, services, guards);
  mountAdminPeers(router, services, guards);
  mountAdminQueue(router, services, guards);
  mountAdminPlugins(router, services, guards);
  mountAdminUsers(router, services, guards);
}
