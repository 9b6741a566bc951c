import type { XmlRpcStruct, XmlRpcValue } from '../mnet/codec.js';
import { MethodPath, type CallContext, type MethodRegistry } from '../mnet/methods.js';
import { importError } from './import-data.js';
import type { ImportDeps } from './process.js';
import { beginIntent, markReady, type ReadyResult } from './rpc.js';

/** Moodle's name for the portfolio service (mnet-protocol.md §7.1); Mahara calls it portfolio_in. */
export const PORTFOLIO_SERVICE = 'pf';

/**
 * The portfolio RPCs under both vocabularies (portfolio-import.md §1.5): Moodle's real method names and the
 * design note's, thin adapters over one core (src/portfolio/rpc.ts). Who may import at all is the peer's
 * "We import content" flag; the service is published to Moodle peers by default, as Mahara has no
 * per-peer service flags (§7.1).
 */
export function registerPortfolioMethods(registry: MethodRegistry, deps: ImportDeps): void {
  registry.registerService({
    name: PORTFOLIO_SERVICE,
    description: 'Portfolio services: Moodle exports students\' work to this site',
    publishedByDefaultTo: ['moodle'],
    subscribedByDefaultTo: ['moodle'],
    remoteMethods: [MethodPath.fetchFile],
  });

  const intentParams = [{ name: 'username', type: 'string', description: 'the exporting user\'s username on the calling site' }];
  const readyParams = [
    { name: 'token', type: 'string', description: 'the token from the intent' },
    { name: 'username', type: 'string', description: 'the exporting user\'s username on the calling site' },
    { name: 'format', type: 'string', description: "'file' or 'leap2a'" },
    { name: 'importdata', type: 'struct', description: 'filesmanifest, zipfilesha1, zipfilesize, totalsize' },
    { name: 'fetchnow', type: 'string', description: "'1' when the user waits for the transfer" },
  ];

  registry.register({
    path: MethodPath.sendContentIntent,
    service: PORTFOLIO_SERVICE,
    params: intentParams,
    returns: { type: 'struct', description: "{sendtype: 'immediate' | 'queue', token}" },
    help: 'Announces an export: answers whether the transfer may happen at once and the token for it.',
    handler: async (params, ctx) => {
      const decision = await beginIntent(deps, ctx, params[0], { createUser: false });
      // Moodle would show a vaguer message for 'none'; Mahara refuses with the reason (§1.2).
      if (decision.kind === 'refuse') throw importError(decision.reason);
      return { sendtype: decision.kind === 'mayWait' ? 'immediate' : 'queue', token: decision.item.token };
    },
  });

  registry.register({
    path: MethodPath.sendContentReady,
    service: PORTFOLIO_SERVICE,
    params: readyParams,
    returns: { type: 'struct', description: "{status, type: 'complete' | 'queued', querystring}" },
    help: 'The package is ready: imports it now when the user waits, otherwise queues it for the cron.',
    handler: async (params, ctx) => renderReady(await ready(params, ctx, false)),
  });

  registry.register({
    path: MethodPath.contentIntent,
    service: PORTFOLIO_SERVICE,
    params: intentParams,
    returns: { type: 'struct', description: "{sendtype: 'no' | 'queueonly' | 'queueandwait', id, token}" },
    help: 'The design note\'s content_intent: creates the user if the peer allows it, then opens an intent.',
    handler: async (params, ctx): Promise<XmlRpcStruct> => {
      const decision = await beginIntent(deps, ctx, params[0], { createUser: true });
      if (decision.kind === 'refuse') return { sendtype: 'no' };
      return { sendtype: decision.kind === 'mayWait' ? 'queueandwait' : 'queueonly', id: decision.item.id, token: decision.item.token };
    },
  });

  registry.register({
    path: MethodPath.contentReady,
    service: PORTFOLIO_SERVICE,
    params: [...readyParams, { name: 'location', type: 'string', description: 'optional: where to GET the zip over HTTP' }],
    returns: { type: 'struct', description: "{status, type: 'complete' | 'queued', querystring}" },
    help: 'The design note\'s content_ready: the handle may be the queue id or the token.',
    handler: async (params, ctx) => renderReady(await ready(params, ctx, true)),
  });

  function ready(params: readonly XmlRpcValue[], ctx: CallContext, designNames: boolean): Promise<ReadyResult> {
    const [handle, username, format, importData, fetchNow, location] = params;
    return markReady(deps, ctx, { handle, username, format, importData, fetchNow, location, designNames });
  }
}

/** `status` is always <boolean>1</boolean> (Mahara's queued answer sends a recordset struct, §1.3). */
function renderReady(result: ReadyResult): XmlRpcStruct {
  return result.type === 'complete' ? { status: true, type: 'complete', querystring: result.querystring } : { status: true, type: 'queued' };
}
