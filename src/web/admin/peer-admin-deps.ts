import { FaultCode, MnetFault } from '../../errors.js';
import type { PeerAdminDeps } from '../../mnet/peer-admin.js';
import type { Services } from '../../services.js';

/** What the peer functions of src/mnet/peer-admin.ts need, as the CLI builds it. */
export function adminDeps(services: Services): PeerAdminDeps {
  return { db: services.db, client: services.client, log: services.log, now: services.now };
}

/**
 * The message of a refusal an admin can act on (a peer that cannot be reached, a bad certificate, a
 * typo): shown on the page instead of the generic error page. Our own bugs (Internal) and anything that
 * is not an MnetFault are rethrown, so the error boundary logs them and hides the details.
 */
export function refusalOf(err: unknown): string {
  if (err instanceof MnetFault && err.code !== FaultCode.Internal && err.expose) return err.message;
  throw err;
}
