import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { FaultCode } from '../../src/errors.js';
import { faultCodeOf } from '../helpers/faults.js';

describe('SESSION_LIFETIME', () => {
  it('defaults to two hours', () => {
    expect(loadConfig({}).sessionLifetimeSeconds).toBe(7200);
  });

  it('takes whole seconds from 300 to 30 days', () => {
    expect(loadConfig({ SESSION_LIFETIME: '300' }).sessionLifetimeSeconds).toBe(300);
    expect(loadConfig({ SESSION_LIFETIME: '2592000' }).sessionLifetimeSeconds).toBe(2592000);
  });

  it.each(['299', '2592001', '1.5', 'two hours', '-1'])('refuses %j', (value) => {
    expect(faultCodeOf(() => loadConfig({ SESSION_LIFETIME: value }))).toBe(FaultCode.InvalidConfiguration);
  });
});
