import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { FaultCode } from '../../src/errors.js';
import { faultCodeOf } from '../helpers/faults.js';

describe('SCHOOLTOOL_METHOD_PREFIX', () => {
  it('defaults to schooltool/mnet.php/ (§10)', () => {
    expect(loadConfig({}).schooltoolMethodPrefix).toBe('schooltool/mnet.php/');
  });

  it('takes path segments and adds the trailing slash', () => {
    expect(loadConfig({ SCHOOLTOOL_METHOD_PREFIX: 'st/mnet' }).schooltoolMethodPrefix).toBe('st/mnet/');
    expect(loadConfig({ SCHOOLTOOL_METHOD_PREFIX: 'schooltool/' }).schooltoolMethodPrefix).toBe('schooltool/');
  });

  it.each(['/schooltool/', 'a/../b/', 'school tool/', 'a//b/', 'a/b?c/'])('refuses %j', (value) => {
    expect(faultCodeOf(() => loadConfig({ SCHOOLTOOL_METHOD_PREFIX: value }))).toBe(FaultCode.InvalidConfiguration);
  });
});
