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

/** Claims the data directory; fails when another live process holds it. */
export async function listenControlSocket(dataDir: string, run: CommandRunner): Promise<net.Server> {
  fs.mkdirSync(dataDir, { recursive: true });
  const socketPath = controlSocketPath(dataDir);
  const server = net.createServer((socket) => serve(socket, run));
  try {
    await listen(server, socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await isAlive(socketPath)) {
      throw new MnetFault(
        FaultCode.InvalidConfiguration,
        `Another process (a server or the CLI) is using ${dataDir}: its control socket answers. Run one server per DATA_DIR`,
      );
    }
    fs.rmSync(socketPath, { force: true }); // left behind by a process that died
    await listen(server, socketPath);
  }
  fs.chmodSync(socketPath, 0o600);
  return server;
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
