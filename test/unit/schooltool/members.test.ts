import { describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import type { XmlRpcStruct } from '../../../src/mnet/codec.js';
import { readChoice, readFlag, readIdnumber, readPoints, readStruct, readText, readWholeNumber } from '../../../src/schooltool/members.js';
import { faultCodeOf } from '../../helpers/faults.js';

/** Reading SchoolTool structs (§10): loose about encodings, fault 0 naming the member otherwise. */
const M = 'new_test';
const s = (value: unknown): XmlRpcStruct => ({ v: value as XmlRpcStruct[string] });

describe('readStruct', () => {
  it('takes exactly one struct', () => {
    expect(readStruct(M, [{ a: 1 }], 'data')).toEqual({ a: 1 });
    for (const params of [[], [[1]], ['x'], [{}, {}], [Buffer.from('x')], [null]]) {
      expect(faultCodeOf(() => readStruct(M, params as never, 'data'))).toBe(FaultCode.Application);
    }
  });
});

describe('readIdnumber', () => {
  it.each([
    ['abc-1', 'abc-1'],
    [1234457, '1234457'],
    [' 12 ', ' 12 '],
    ['550e8400-e29b-41d4-a716-446655440000', '550e8400-e29b-41d4-a716-446655440000'],
  ])('reads %j as %j', (value, expected) => {
    expect(readIdnumber(M, s(value), 'v')).toBe(expected);
  });

  it.each([undefined, null, '', '   ', 1.5, true, [], {}, 'x'.repeat(256)])('refuses %j', (value) => {
    expect(faultCodeOf(() => readIdnumber(M, s(value), 'v'))).toBe(FaultCode.Application);
  });

  it('names the member in the message', () => {
    expect(() => readIdnumber(M, {}, 'sectionid')).toThrow(/new_test: member "sectionid"/);
  });

  it('treats absent as undefined when optional', () => {
    expect(readIdnumber(M, {}, 'v', { optional: true })).toBeUndefined();
    expect(readIdnumber(M, s(''), 'v', { optional: true })).toBeUndefined();
    expect(faultCodeOf(() => readIdnumber(M, s(false), 'v', { optional: true }))).toBe(FaultCode.Application);
  });
});

describe('readText', () => {
  it('reads strings and numbers; uses the fallback only when absent', () => {
    expect(readText(M, s('Jo'), 'v')).toBe('Jo');
    expect(readText(M, s(7), 'v')).toBe('7');
    expect(readText(M, {}, 'v', { fallback: '' })).toBe('');
    expect(faultCodeOf(() => readText(M, {}, 'v'))).toBe(FaultCode.Application);
    expect(faultCodeOf(() => readText(M, s('  '), 'v', { nonEmpty: true }))).toBe(FaultCode.Application);
    expect(faultCodeOf(() => readText(M, s(['x']), 'v', { fallback: '' }))).toBe(FaultCode.Application);
  });
});

describe('readFlag', () => {
  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['1', true],
    ['0', false],
    ['true', true],
    ['FALSE', false],
    ['', false],
  ])('reads %j as %j', (value, expected) => {
    expect(readFlag(M, s(value), 'v', !expected)).toBe(expected);
  });

  it('uses the fallback when absent and refuses anything else', () => {
    expect(readFlag(M, {}, 'v', true)).toBe(true);
    for (const value of [2, 'maybe', [], 0.5]) expect(faultCodeOf(() => readFlag(M, s(value), 'v', false))).toBe(FaultCode.Application);
  });
});

describe('readPoints', () => {
  it.each([
    [62, '62'],
    [62.5, '62.5'],
    [-3, '-3'],
    [1e21, '1000000000000000000000'],
    ['68', '68'],
    [' 70.25 ', '70.25'],
    ['.5', '.5'],
  ])('reads %j as %j', (value, expected) => {
    expect(readPoints(M, s(value), 'v')).toBe(expected);
  });

  it.each([undefined, '', 'lots', '1e3', '1,5', Number.NaN, Number.POSITIVE_INFINITY, true, []])('refuses %j', (value) => {
    expect(faultCodeOf(() => readPoints(M, s(value), 'v'))).toBe(FaultCode.Application);
  });

  it('treats absent as undefined when optional', () => {
    expect(readPoints(M, {}, 'v', { optional: true })).toBeUndefined();
  });
});

describe('readWholeNumber', () => {
  it('reads ints and digit strings at or above the minimum; absent is undefined', () => {
    expect(readWholeNumber(M, s(3), 'v', 0)).toBe(3);
    expect(readWholeNumber(M, s('4'), 'v', 1)).toBe(4);
    expect(readWholeNumber(M, {}, 'v', 1)).toBeUndefined();
    for (const value of [0, '0', 1.5, 'one', 2 ** 31, true]) expect(faultCodeOf(() => readWholeNumber(M, s(value), 'v', 1))).toBe(FaultCode.Application);
  });
});

describe('readChoice', () => {
  it('accepts a listed word case-insensitively, the fallback when absent, refuses others', () => {
    const roles = ['student', 'teacher'] as const;
    expect(readChoice(M, s('Teacher'), 'v', roles)).toBe('teacher');
    expect(readChoice(M, {}, 'v', roles, 'student')).toBe('student');
    expect(readChoice(M, s(' student '), 'v', roles)).toBe('student');
    for (const value of [undefined, 'editingteacher', 1]) expect(faultCodeOf(() => readChoice(M, s(value), 'v', roles))).toBe(FaultCode.Application);
  });
});
