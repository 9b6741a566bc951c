import { describe, expect, it } from 'vitest';
import { hashPassword, passwordProblem, verifyPassword } from '../../../src/identity/passwords.js';

describe('password hashes (scrypt)', () => {
  it('verifies the right password and refuses a wrong one; two hashes of one password differ (salt)', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$3\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
  });

  it('compares Unicode passwords in NFC, so the same text typed differently still matches', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait');
    expect(await verifyPassword('cafe\u0301-au-lait', stored)).toBe(true);
  });

  it('never matches a malformed or over-expensive stored hash', async () => {
    const good = await hashPassword('0123456789');
    const [, , r, p, salt, key] = good.split('$');
    for (const bad of ['', 'plain', `bcrypt$1$2$3$${salt}$${key}`, `scrypt$x$${r}$${p}$${salt}$${key}`, `scrypt$${2 ** 24}$8$1$${salt}$${key}`, `scrypt$32768$8$3$${salt}$`]) {
      expect(await verifyPassword('0123456789', bad)).toBe(false);
    }
  });

  it('states why a new password is refused', () => {
    expect(passwordProblem('short')).toMatch(/at least 10/);
    expect(passwordProblem('x'.repeat(1025))).toMatch(/at most 1024/);
    expect(passwordProblem('long enough')).toBeUndefined();
  });
});
