import type Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Guards } from '../guards.js';
import { mountFiles } from './files.js';
import { mountHome } from './home.js';
import { mountImports } from './imports.js';
import { mountJournals } from './journals.js';

/** A student's own pages: every route behind guards.user; each shows only the viewer's own things. */
export function mountUserRoutes(router: Router, services: Services, guards: Guards): void {
  mountHome(router, services, guards);
  mountFiles(router, services, guards);
  mountJournals(router, services, guards);
  mountImports(router, services, guards);
}
