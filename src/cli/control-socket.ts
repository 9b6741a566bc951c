import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { FaultCode, MnetFault } from '../errors.js';

/**
 * PGlite lets one process open its data directory. Whoever opens it (the server, or the CLI when no server
 * runs) listens on `<dataDir>/control.sock`; that socket is both the lock and the way the CLI asks a
 * running server to carry out a command with the server's own database connection and key cache.
 *
 * Protocol: the CLI writes one JSON line `{"argv": [...]}`; the owner answers with JSON lines
 * `{"out": "text"}` and finally `{"exit": code}`.
 */
export type CommandRunner = (argv: string[], out: (line: string) => void) => Promise<number>;

export function controlSocketPath(dataDir: string): string {
  const socketPath = path.join(dataDir, 'control.sock');
  // Unix socket paths are limited to about 107 bytes.
  if (Buffer.byteLength(socketPath) > 100) {
    throw new MnetFault(FaultCode.InvalidInput, `DATA_DIR is too long for its control socket (${socketPath}); use a shorter path`);
  }
  return socketPath;
}

export interface ControlSocket {
  /** Stops listening; connections still open after `graceMs` are cut. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Claims the data directory. When another live process holds it, waits up to `waitMs` for it to let go
 * (a CLI command finishing), then fails with a clear message.
 *
 * DATA_DIR holds the embedded database, and with it our private keys: it is made private to our user
 * (0700) before anything is written to it.
 */
export async function listenControlSocket(dataDir: string, run: CommandRunner, waitMs = 0): Promise<ControlSocket> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o700);
  const socketPath = controlSocketPath(dataDir);
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serve(socket, run);
  });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await listen(server, socketPath);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
    if (!(await isAlive(socketPath))) {
      fs.rmSync(socketPath, { force: true }); // left behind by a process that died
    } else if (Date.now() >= deadline) {
      throw new MnetFault(
        FaultCode.InvalidConfiguration,
        `Another process (a server or the CLI) is using ${dataDir}: its control socket answers. Run one server per DATA_DIR`,
      );
    } else {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  return {
    close: async (graceMs = 10_000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A remote command against a slow peer may run for minutes; it must not hold the shutdown.
      const timer = setTimeout(() => connections.forEach((c) => c.destroy()), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function serve(socket: net.Socket, run: CommandRunner): void {
  const lines = readline.createInterface({ input: socket });
  const send = (message: object) => {
    if (!socket.destroyed) socket.write(JSON.stringify(message) + '\n');
  };
  lines.once('line', async (line) => {
    lines.close();
    let exit = 1;
    try {
      const request = JSON.parse(line) as { argv?: unknown };
      if (!Array.isArray(request.argv) || !request.argv.every((a) => typeof a === 'string')) throw new Error('bad request');
      exit = await run(request.argv as string[], (out) => send({ out }));
    } catch (err) {
      send({ out: `error: ${err instanceof Error ? err.message : String(err)}` });
    }
    send({ exit });
    socket.end();
  });
  socket.on('error', () => socket.destroy());
}

export async function isAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends a command to the process holding the data directory; resolves with its exit code. */
export async function runRemote(socketPath: string, argv: string[], out: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let exit: number | undefined;
    socket.once('connect', () => socket.write(JSON.stringify({ argv }) + '\n'));
    readline.createInterface({ input: socket }).on('line', (line) => {
      const message = JSON.parse(line) as { out?: string; exit?: number };
      if (typeof message.out === 'string') out(message.out);
      if (typeof message.exit === 'number') exit = message.exit;
    });
    socket.once('error', reject);
    socket.once('close', () =>
      exit === undefined ? reject(new Error('the server closed the control socket without an answer')) : resolve(exit),
    );
  });
}
