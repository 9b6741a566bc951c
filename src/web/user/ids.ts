import { FaultCode, MnetFault } from '../../errors.js';
import { parseId as parseIdOrUndefined } from '../format.js';

/** The one answer for an id that is not the viewer's: the same as for one that does not exist. */
export function notFound(what: string): MnetFault {
  return new MnetFault(FaultCode.NotFound, `There is no such ${what} among your things.`);
}

/** A path or query id: digits only, within the column's range; anything else (repeated, empty, "1x") is 404. */
export function parseId(value: unknown, what: string): number {
  const id = parseIdOrUndefined(value);
  if (id === undefined) throw notFound(what);
  return id;
}
