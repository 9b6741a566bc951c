import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenControlSocket } from '../../src/cli/control-socket.js';
import { silentLogger } from '../../src/log.js';
import { startService } from '../../src/start.js';
import { testConfig } from '../helpers/services.js';

// The embedded database in DATA_DIR holds our private keys, and one process at a time may open it.
describe('DATA_DIR ownership', () => {
  it('is private to our user and holds the data', async () => {
    const config = { ...testConfig(), port: 0 };
    fs.chmodSync(config.dataDir, 0o755);
    const running = await startService(config, silentLogger, { host: '127.0.0.1' });
    try {
      expect(fs.statSync(config.dataDir).mode & 0o777).toBe(0o700);
      expect(fs.existsSync(path.join(config.dataDir, 'pgdata'))).toBe(true);
    } finally {
      await running.stop();
    }
  });

  it('a starting server waits for a CLI command that holds DATA_DIR, then starts', async () => {
    const config = { ...testConfig(), port: 0 };
    const cliHolding = await listenControlSocket(config.dataDir, async () => 0);
    setTimeout(() => void cliHolding.close(0), 700);
    const started = Date.now();
    const running = await startService(config, silentLogger, { host: '127.0.0.1', dataDirWaitMs: 10_000 });
    try {
      expect(Date.now() - started).toBeGreaterThanOrEqual(600);
      expect((await fetch(`http://127.0.0.1:${running.address.port}/healthz`)).status).toBe(200);
    } finally {
      await running.stop();
    }
  });
});
