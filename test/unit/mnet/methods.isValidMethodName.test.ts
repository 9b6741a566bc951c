import { describe, expect, it } from 'vitest';
import { isValidMethodName, MethodRegistry } from '../../../src/mnet/methods.js';

describe('isValidMethodName (§2.1, checklist 43 and 45)', () => {
  it.each([
    'system/keyswap',
    'system/listServices',
    'auth/mnet/auth.php/user_authorise',
    'portfolio/mahara/lib.php/send_content_intent',
    'portfolio/content_intent',
    'repository/mahara/repository.class.php/get_file',
    'mod/assignment/type/mahara/rpclib.php/get_views_for_user',
    'schooltool/mnet.php/new_grade',
  ])('accepts %s', (name) => {
    expect(isValidMethodName(name)).toBe(true);
  });

  it.each([
    '',
    'keyswap',
    'system.keyswap',
    '/system/keyswap',
    'system/',
    'a/../b',
    '../a/b',
    'a/b/..',
    'auth/mnet/auth.php/user authorise',
    'auth/mnet/auth.php/user_authorise()',
    'system/keyswap\n',
    'mod/x.php/',
  ])('refuses %j', (name) => {
    expect(isValidMethodName(name)).toBe(false);
  });
});

describe('MethodRegistry', () => {
  const service = { name: 'pf', description: 'portfolio', publishedByDefaultTo: ['moodle'] as const, subscribedByDefaultTo: [] };
  const method = (path: string, svc = 'pf') => ({
    path,
    service: svc,
    params: [],
    returns: { type: 'boolean', description: '' },
    help: '',
    handler: async () => true,
  });

  it('lists methods sorted, optionally by service', () => {
    const registry = new MethodRegistry();
    registry.registerService(service);
    registry.register(method('portfolio/z.php/b'));
    registry.register(method('portfolio/a.php/a'));
    registry.register(method('system/listMethods', 'system'));
    expect(registry.listMethods()).toEqual(['portfolio/a.php/a', 'portfolio/z.php/b', 'system/listMethods']);
    expect(registry.listMethods('pf')).toEqual(['portfolio/a.php/a', 'portfolio/z.php/b']);
  });

  it('refuses duplicates, invalid paths and unknown services at start-up', () => {
    const registry = new MethodRegistry();
    registry.registerService(service);
    registry.register(method('portfolio/a.php/a'));
    expect(() => registry.register(method('portfolio/a.php/a'))).toThrow();
    expect(() => registry.register(method('../x'))).toThrow();
    expect(() => registry.register(method('portfolio/b.php/b', 'nope'))).toThrow();
    expect(() => registry.registerService(service)).toThrow();
  });
});
