import type http from 'node:http';
import type net from 'node:net';
import { runCommand } from './cli/commands.js';
import { listenControlSocket, type ControlSocket } from './cli/control-socket.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { assertSha1SignaturesWork } from './mnet/envelope.js';
import { scheduleQueueRun, type ScheduledJobs } from './cron/schedule.js';
import { processIncomingContentQueue } from './portfolio/run-queue.js';
import { openServices, type ServiceOptions, type Services } from './services.js';
import { createWebApp } from './web/app.js';
import { MNET_SERVER_PATH } from './web/mnet-paths.js';
import { hasAdmin } from './identity/users.js';

/** How long a starting server waits for a CLI command that holds DATA_DIR. */
const CLI_WAIT_MS = 60_000;

export interface RunningService {
  readonly services: Services;
  readonly httpServer: http.Server;
  /** Where the HTTP server listens (the port may be chosen by the OS when config.port is 0). */
  readonly address: { host: string; port: number };
  /** Graceful stop: no new connections, in-flight requests finish, then the database closes. */
  stop(): Promise<void>;
}

/**
 * Starts the whole service: claims DATA_DIR, migrates, makes our key pair if there is none, serves HTTP and
 * the CLI's control socket.
 */
export interface StartOptions extends ServiceOptions {
  /** Interface to listen on; all of them when unset. */
  host?: string;
  /** How long to wait for another process holding DATA_DIR (a CLI command finishing). */
  dataDirWaitMs?: number;
}

export async function startService(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningService> {
  let services: Services | undefined;
  // A CLI command running on its own holds DATA_DIR until it is done; wait for it rather than fail.
  const control = await listenControlSocket(
    config.dataDir,
    (argv, out) => (services ? runCommand(services, argv, out) : Promise.resolve((out('the server is still starting'), 1))),
    options.dataDirWaitMs ?? CLI_WAIT_MS,
  );
  let httpServer: http.Server | undefined;
  try {
    services = await openServices(config, log, options);
    const key = await services.keys.current();
    assertSha1SignaturesWork(key.privateKey, key.publicKey);
    httpServer = await listen(createWebApp(services).callback(), config.port, options.host);
    const address = httpServer.address() as net.AddressInfo;
    log.info('listening', { address: `${address.address}:${address.port}`, mnetEndpoint: config.wwwroot + MNET_SERVER_PATH });
    log.info('our MNet certificate', { sha1: key.sha1Fingerprint, expires: key.expires.toISOString() });
    // A fresh install has nobody who can open the admin pages: say how to make the first admin.
    if (!(await hasAdmin(services.db))) log.warn('no admin yet: run `npm run cli -- admin create <username>` and open the link it prints');
    const running = services;
    const server = httpServer;
    const jobs = scheduleQueueRun(config.portfolio.cronSchedule, () => processIncomingContentQueue(running.imports), log);
    let stopping: Promise<void> | undefined;
    return {
      services: running,
      httpServer: server,
      address: { host: address.address, port: address.port },
      stop: () => (stopping ??= stopAll(server, control, jobs, running, log)),
    };
  } catch (err) {
    httpServer?.close();
    await control.close(0);
    await services?.close();
    throw err;
  }
}

async function listen(handler: http.RequestListener, port: number, host: string | undefined): Promise<http.Server> {
  const { createServer } = await import('node:http');
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

async function stopAll(server: http.Server, control: ControlSocket, jobs: ScheduledJobs, services: Services, log: Logger): Promise<void> {
  log.info('shutting down: finishing in-flight requests and the queue run');
  // An import in progress finishes (or fails and is released) before the database closes.
  const jobsStopped = jobs.stop();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // close() only drops connections idle at that moment; a keep-alive connection whose request finishes
  // later would hold the stop until the client lets go, so keep closing the ones that became idle.
  server.closeIdleConnections();
  const sweeper = setInterval(() => server.closeIdleConnections(), 50);
  // Requests still running after ten seconds are cut off.
  const timer = setTimeout(() => server.closeAllConnections(), 10_000);
  await closed;
  clearInterval(sweeper);
  clearTimeout(timer);
  await jobsStopped;
  await services.queueRuns.settle();
  await control.close();
  await services.close();
  log.info('stopped');
}
