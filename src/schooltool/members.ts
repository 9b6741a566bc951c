import { FaultCode, MnetFault } from '../errors.js';
import type { XmlRpcStruct, XmlRpcValue } from '../mnet/codec.js';

/**
 * Reading the one struct each SchoolTool method takes (mnet-protocol.md §10). The wiki gives only
 * examples (idnumbers as numbers, booleans as PHP false/true), and a PHP peer may send any scalar as a
 * string, so reading is loose about encodings and strict about meaning. Every refusal is fault 0 naming
 * the method and the member, so the peer's admin can see what to fix.
 */

/** `remote_users.idnumber` and the `st_*` idnumber columns are varchar(255). */
const IDNUMBER_MAX_LENGTH = 255;

function refuse(method: string, message: string): MnetFault {
  return new MnetFault(FaultCode.Application, `${method}: ${message}`);
}

function isStruct(value: XmlRpcValue | undefined): value is XmlRpcStruct {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** The method's single struct parameter; extra members are allowed (fetch_user's free-form profile fields). */
export function readStruct(method: string, params: readonly XmlRpcValue[], name: string): XmlRpcStruct {
  if (params.length !== 1 || !isStruct(params[0])) throw refuse(method, `expects exactly one parameter, the struct ${name}`);
  return params[0];
}

/** Absent, nil and the empty string all mean "not sent", as PHP's empty() has it. */
function isAbsent(value: XmlRpcValue | undefined): value is undefined | null | '' {
  return value === undefined || value === null || value === '';
}

/**
 * A shared idnumber: a string (real systems use UUIDs), or an integer as in the wiki's examples, which is
 * stringified so that 1234 and "1234" name the same record. Compared exactly, never trimmed or case-folded.
 */
export function readIdnumber(method: string, struct: XmlRpcStruct, member: string): string;
export function readIdnumber(method: string, struct: XmlRpcStruct, member: string, options: { optional: true }): string | undefined;
export function readIdnumber(method: string, struct: XmlRpcStruct, member: string, options?: { optional: true }): string | undefined {
  const value = struct[member];
  if (isAbsent(value) && options?.optional) return undefined;
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || text.trim() === '') throw refuse(method, `member "${member}" must be a non-empty string or an integer`);
  if (text.length > IDNUMBER_MAX_LENGTH) throw refuse(method, `member "${member}" is longer than ${IDNUMBER_MAX_LENGTH} characters`);
  return text;
}

/**
 * A text member (a name, an email); numbers are stringified. Absent (or nil) gives the fallback when one is
 * given and is refused otherwise; `nonEmpty` also refuses blank text.
 */
export function readText(method: string, struct: XmlRpcStruct, member: string, options: { fallback?: string; nonEmpty?: boolean } = {}): string {
  const value = struct[member];
  if ((value === undefined || value === null) && options.fallback !== undefined) return options.fallback;
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string') throw refuse(method, `member "${member}" must be a string`);
  if (options.nonEmpty && text.trim() === '') throw refuse(method, `member "${member}" must not be empty`);
  return text;
}

const TRUE_TEXTS = new Set(['1', 'true', 'yes', 'on']);
// '' is PHP's (string)false, which a Moodle plugin casting its values to strings sends.
const FALSE_TEXTS = new Set(['0', 'false', 'no', 'off', '']);

/** A boolean, read loosely: <boolean>, 0/1 as int, or '0'/'1'/'true'/'false'/'' as string. Absent → fallback. */
export function readFlag(method: string, struct: XmlRpcStruct, member: string, fallback: boolean): boolean {
  const value = struct[member];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (TRUE_TEXTS.has(text)) return true;
    if (FALSE_TEXTS.has(text)) return false;
  }
  throw refuse(method, `member "${member}" must be a boolean (true/false or 1/0)`);
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * A number of points: an int, a double, or a decimal string ("62", "62.5"). Returned as the decimal text
 * that goes into a numeric column, so "62.50" is stored exactly rather than through a binary double.
 */
export function readPoints(method: string, struct: XmlRpcStruct, member: string): string;
export function readPoints(method: string, struct: XmlRpcStruct, member: string, options: { optional: true }): string | undefined;
export function readPoints(method: string, struct: XmlRpcStruct, member: string, options?: { optional: true }): string | undefined {
  const value = struct[member];
  if (isAbsent(value) && options?.optional) return undefined;
  // toLocaleString writes 1e21 and 1e-7 out in full, as a numeric column wants them.
  if (typeof value === 'number' && Number.isFinite(value)) return value.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });
  if (typeof value === 'string' && DECIMAL.test(value.trim()) && value.trim().length <= 40) return value.trim();
  throw refuse(method, `member "${member}" must be a number`);
}

/** A whole number (chapter, segment, attempt); a digit string is accepted. Absent → undefined. */
export function readWholeNumber(method: string, struct: XmlRpcStruct, member: string, min: number): number | undefined {
  const value = struct[member];
  if (isAbsent(value)) return undefined;
  const n = typeof value === 'string' && /^\s*[+-]?\d{1,9}\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > 0x7fffffff) {
    throw refuse(method, `member "${member}" must be a whole number of at least ${min}`);
  }
  return n;
}

/** One of a fixed set of words, compared case-insensitively; absent → fallback. */
export function readChoice<T extends string>(method: string, struct: XmlRpcStruct, member: string, choices: readonly T[], fallback?: T): T {
  const value = struct[member];
  if (isAbsent(value) && fallback !== undefined) return fallback;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  const found = choices.find((c) => c === text);
  if (found === undefined) throw refuse(method, `member "${member}" must be one of ${choices.join(', ')}`);
  return found;
}

/** The fault for an idnumber that names nothing this peer has sent us; nothing is written then. */
export function unknownIdnumber(method: string, member: string, what: string, idnumber: string): MnetFault {
  return refuse(method, `unknown ${what} idnumber "${idnumber}" in member "${member}"`);
}
