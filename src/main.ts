import { loadConfig } from './config.js';
import { FaultCode, MnetFault } from './errors.js';
import { createLogger } from './log.js';
import { startService } from './start.js';

// Wiring only: read the configuration, start, and stop cleanly on SIGTERM/SIGINT.
let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof MnetFault) || err.code !== FaultCode.InvalidConfiguration) throw err;
  process.stderr.write(`configuration error: ${err.message}\n`);
  process.exit(2);
}
const log = createLogger(config.logLevel);
try {
  const running = await startService(config, log);
  const stop = async (signal: string) => {
    log.info('received signal', { signal });
    try {
      await running.stop();
      process.exit(0);
    } catch (err) {
      log.error('could not stop cleanly', { error: err });
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
} catch (err) {
  log.error(err instanceof MnetFault ? err.message : 'could not start', { error: err });
  process.exit(1);
}
