import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { FaultCode, MnetFault } from '../../src/errors.js';

/** The fault code loadConfig throws for `env`, or undefined when it accepts it. */
function configFault(env: Record<string, string>): number | undefined {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(MnetFault);
    return (err as MnetFault).code;
  }
  return undefined;
}

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it('listens on 8080 with WWWROOT http://localhost:8080', () => {
    expect(config.port).toBe(8080);
    expect(config.wwwroot).toBe('http://localhost:8080');
  });

  it('derives the default WWWROOT from PORT', () => {
    expect(loadConfig({ PORT: '9000' }).wwwroot).toBe('http://localhost:9000');
  });

  it('resolves DATA_DIR (default ./data) to an absolute path', () => {
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(loadConfig({ DATA_DIR: 'some/where' }).dataDir).toBe(path.resolve('some/where'));
  });

  it('uses PGlite (no DATABASE_URL) unless a postgres URL is given', () => {
    expect(config.databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: '  ' }).databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1/db' }).databaseUrl).toBe('postgres://u@127.0.0.1/db');
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@127.0.0.1/db' }).databaseUrl).toBe('postgresql://u@127.0.0.1/db');
  });

  it('has the MNet defaults of the spec: drift 15 s, request window off, 60 s client timeout, 365-day RSA-2048 keys, 6 old keys', () => {
    expect(config.logLevel).toBe('info');
    expect(config.mnet.networking).toBe(true);
    expect(config.mnet.promiscuous).toBe(false);
    expect(config.mnet.driftThresholdSeconds).toBe(15);
    expect(config.mnet.requestWindowSeconds).toBe(0);
    expect(config.mnet.clientTimeoutMs).toBe(60_000);
    expect(config.mnet.keyDays).toBe(365);
    expect(config.mnet.keyBits).toBe(2048);
    expect(config.mnet.keyHistory).toBe(6);
  });
});

describe('loadConfig WWWROOT', () => {
  it('strips trailing slashes, keeping a path', () => {
    expect(loadConfig({ WWWROOT: 'https://folio.example.edu/' }).wwwroot).toBe('https://folio.example.edu');
    expect(loadConfig({ WWWROOT: 'https://folio.example.edu/mahara///' }).wwwroot).toBe('https://folio.example.edu/mahara');
    expect(loadConfig({ WWWROOT: 'http://127.0.0.1:8123/' }).wwwroot).toBe('http://127.0.0.1:8123');
  });

  it.each([
    ['ftp://folio.example.edu', 'not http(s)'],
    ['https://folio.example.edu/?x=1', 'a query'],
    ['https://folio.example.edu/#top', 'a fragment'],
    ['https://user:pw@folio.example.edu', 'credentials'],
    ['folio.example.edu', 'no scheme'],
    ['', 'empty'],
  ])('refuses %s (%s) with InvalidConfiguration', (wwwroot) => {
    expect(configFault({ WWWROOT: wwwroot })).toBe(FaultCode.InvalidConfiguration);
  });
});

describe('loadConfig validation', () => {
  it.each(['0', '65536', '-1', 'abc', '80.5', '8080x'])('refuses PORT=%s', (port) => {
    expect(configFault({ PORT: port })).toBe(FaultCode.InvalidConfiguration);
  });

  it.each(['1', '65535'])('accepts PORT=%s', (port) => {
    expect(loadConfig({ PORT: port }).port).toBe(Number(port));
  });

  it.each(['verbose', 'trace', 'warning'])('refuses LOG_LEVEL=%s', (level) => {
    expect(configFault({ LOG_LEVEL: level })).toBe(FaultCode.InvalidConfiguration);
  });

  it('accepts the four log levels in any case', () => {
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
    expect(loadConfig({ LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: 'Error' }).logLevel).toBe('error');
  });

  it.each(['14', '301', '0', '-5', 'x'])('refuses MNET_DRIFT_THRESHOLD=%s (must be 15..300)', (value) => {
    expect(configFault({ MNET_DRIFT_THRESHOLD: value })).toBe(FaultCode.InvalidConfiguration);
  });

  it.each([15, 120, 300])('accepts MNET_DRIFT_THRESHOLD=%i', (value) => {
    expect(loadConfig({ MNET_DRIFT_THRESHOLD: String(value) }).mnet.driftThresholdSeconds).toBe(value);
  });

  it.each(['1', '60', '299'])('refuses MNET_REQUEST_WINDOW=%s (0 = off, else at least 300)', (value) => {
    expect(configFault({ MNET_REQUEST_WINDOW: value })).toBe(FaultCode.InvalidConfiguration);
  });

  it.each([0, 300, 3600])('accepts MNET_REQUEST_WINDOW=%i', (value) => {
    expect(loadConfig({ MNET_REQUEST_WINDOW: String(value) }).mnet.requestWindowSeconds).toBe(value);
  });

  it('refuses a DATABASE_URL that is not postgres://', () => {
    expect(configFault({ DATABASE_URL: 'mysql://u@127.0.0.1/db' })).toBe(FaultCode.InvalidConfiguration);
  });

  it('refuses malformed booleans and key sizes', () => {
    expect(configFault({ MNET_PROMISCUOUS: 'maybe' })).toBe(FaultCode.InvalidConfiguration);
    expect(configFault({ MNET_KEY_BITS: '2500' })).toBe(FaultCode.InvalidConfiguration);
    expect(loadConfig({ MNET_PROMISCUOUS: 'yes' }).mnet.promiscuous).toBe(true);
  });
});

describe('loadConfig result', () => {
  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mnet)).toBe(true);
    expect(Object.isFrozen(config.mnet.subject)).toBe(true);
    // ESM modules are strict code: writing to a frozen object throws.
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.mnet as { driftThresholdSeconds: number }).driftThresholdSeconds = 300;
    }).toThrow(TypeError);
    expect(config.port).toBe(8080);
  });
});
