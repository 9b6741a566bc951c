import { describe, expect, it } from 'vitest';
import { safeWantsurl } from '../../../src/identity/sso-land.js';

/** wantsurl must stay a local path (§8.1 step 3, checklist 52); Mahara's open redirect is not copied. */
describe('safeWantsurl', () => {
  it.each([
    [undefined, '/'],
    ['', '/'],
    ['/', '/'],
    ['/view/view.php?id=3&x=%20y', '/view/view.php?id=3&x=%20y'],
    ['artefact/file/', '/artefact/file/'],
    ['?page=2', '/?page=2'],
    ['/caf\u00e9 menu', '/caf%C3%A9%20menu'],
  ])('keeps the local path %j as %j', (input, expected) => {
    expect(safeWantsurl(input)).toBe(expected);
  });

  it.each([
    '//evil.test',
    '///evil.test',
    'https://evil.test',
    'HTTP://evil.test/x',
    'javascript:alert(1)',
    'data:text/html,hi',
    '/\\evil.test',
    '\\\\evil.test',
    '/x\r\nSet-Cookie: a=b',
    '/x\ty',
    `/${'a'.repeat(3000)}`,
  ])('replaces %j by /', (input) => {
    expect(safeWantsurl(input)).toBe('/');
  });
});
