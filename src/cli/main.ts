import { loadConfig } from '../config.js';
import { FaultCode, MnetFault } from '../errors.js';
import { createLogger } from '../log.js';
import { openServices, type Services } from '../services.js';
import { USAGE, runCommand } from './commands.js';
import { controlSocketPath, isAlive, listenControlSocket, runRemote } from './control-socket.js';

// `npm run cli -- <command>`: asks the running server to do it, or does it alone when none runs.
const argv = process.argv.slice(2);
const print = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help') {
    print(USAGE.trimEnd());
    return 0;
  }
  const config = loadConfig();
  const socketPath = controlSocketPath(config.dataDir);
  if (await isAlive(socketPath)) return runRemote(socketPath, argv, print);

  const log = createLogger(config.logLevel === 'debug' ? 'debug' : 'warn');
  let services: Services | undefined;
  // The embedded database may be opened by one process only: hold DATA_DIR while we use it, so a server
  // starting meanwhile waits for us. PostgreSQL needs no such lock.
  const lock = config.databaseUrl
    ? undefined
    : await listenControlSocket(config.dataDir, (args, out) =>
        services ? runCommand(services, args, out) : Promise.resolve((out('the CLI is still starting'), 1)),
      );
  try {
    services = await openServices(config, log);
    return await runCommand(services, argv, print);
  } finally {
    await services?.close();
    await lock?.close(0);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof MnetFault) process.stderr.write(`error: ${err.message}\n`);
    else process.stderr.write(`error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(err instanceof MnetFault && err.code === FaultCode.InvalidConfiguration ? 2 : 1);
  },
);
