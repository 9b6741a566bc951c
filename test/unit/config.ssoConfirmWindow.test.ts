import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { FaultCode } from '../../src/errors.js';
import { faultCodeOf } from '../helpers/faults.js';

describe('SSO_CONFIRM_WINDOW', () => {
  it('defaults to 30 seconds, as Moodle does (§8.2)', () => {
    expect(loadConfig({}).ssoConfirmWindowSeconds).toBe(30);
  });

  it('takes whole seconds from 5 to 300', () => {
    expect(loadConfig({ SSO_CONFIRM_WINDOW: '5' }).ssoConfirmWindowSeconds).toBe(5);
    expect(loadConfig({ SSO_CONFIRM_WINDOW: '300' }).ssoConfirmWindowSeconds).toBe(300);
  });

  it.each(['4', '301', '0', '1.5', 'half a minute'])('refuses %j', (value) => {
    expect(faultCodeOf(() => loadConfig({ SSO_CONFIRM_WINDOW: value }))).toBe(FaultCode.InvalidConfiguration);
  });
});
