import { expect } from 'vitest';
import { MnetFault } from '../../src/errors.js';

/** The MnetFault code `fn` throws, or undefined when it returns (fails the test on any other error). */
export function faultCodeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    return (err as MnetFault).code;
  }
  return undefined;
}

/** The MnetFault code a promise rejects with (fails the test if it resolves or rejects with something else). */
export async function faultOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    return (err as MnetFault).code;
  }
  expect.fail('expected an MnetFault');
}
