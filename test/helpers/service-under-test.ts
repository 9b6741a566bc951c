import net from 'node:net';
import type { MnetConfig } from '../../src/config.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { decodeMethodResponse, encodeMethodCall, type MethodResponse, type XmlRpcStruct, type XmlRpcValue } from '../../src/mnet/codec.js';
import { parseXml } from '../../src/mnet/xml.js';
import { startService, type RunningService, type StartOptions } from '../../src/start.js';
import { createPostgresDatabase, type TestEngine } from './db.js';
import type { FakePeer } from './fake-peer.js';
import { testConfig } from './services.js';

/**
 * Our whole service on loopback for end-to-end tests (and the benchmark's port choice). No vitest import
 * here: bench/mnet-calls.ts uses this file outside the test runner, so the tests make their own assertions.
 */

/** A port that was free a moment ago: WWWROOT must be known before the service starts. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ServiceUnderTest {
  readonly running: RunningService;
  /** http://127.0.0.1:<port> */
  readonly wwwroot: string;
  readonly port: number;
  /** Stops the service, then drops its PostgreSQL database if it has one. */
  stop(): Promise<void>;
}

export interface ServiceUnderTestOptions extends StartOptions {
  /** Added to the environment the configuration is loaded from (WWWROOT, PORT and DATABASE_URL are set here). */
  env?: Record<string, string>;
  mnet?: Partial<MnetConfig>;
  log?: Logger;
}

/**
 * Starts our service on 127.0.0.1 at a free port with a fresh database: embedded PGlite, or for the
 * `postgresql` engine a new database on TEST_DATABASE_URL, dropped again by stop().
 */
export async function startServiceOn(engine: TestEngine['name'], options: ServiceUnderTestOptions = {}): Promise<ServiceUnderTest> {
  const { env = {}, mnet, log = silentLogger, ...startOptions } = options;
  const port = await freePort();
  const wwwroot = `http://127.0.0.1:${port}`;
  const pg = engine === 'postgresql' ? await createPostgresDatabase() : undefined;
  if (engine === 'postgresql' && !pg) throw new Error('TEST_DATABASE_URL is needed for the postgresql run');
  const dropDatabase = async () => pg?.drop();
  let running: RunningService;
  try {
    const config = testConfig({ ...env, WWWROOT: wwwroot, PORT: String(port), ...(pg ? { DATABASE_URL: pg.url } : {}) }, mnet);
    running = await startService(config, log, { host: '127.0.0.1', ...startOptions });
  } catch (err) {
    await dropDatabase();
    throw err;
  }
  return {
    running,
    wwwroot,
    port,
    stop: async () => {
      await running.stop();
      await dropDatabase();
    },
  };
}

export interface PeerCallAnswer {
  /** The HTTP status (always 200 here: any other status throws, as there is no envelope to open). */
  readonly status: number;
  /** Whether our answer's signature verified against our current certificate. */
  readonly verified: boolean;
  readonly response: MethodResponse;
}

/**
 * Calls one of our methods as `fake` does: signed with its key, encrypted to our current key, POSTed to
 * our MNet endpoint; opens and decodes the answer.
 */
export async function callUsAs(
  fake: FakePeer,
  us: Pick<ServiceUnderTest, 'running' | 'wwwroot'>,
  method: string,
  params: XmlRpcValue[],
): Promise<PeerCallAnswer> {
  const ourPem = (await us.running.services.keys.current()).certificatePem;
  const url = `${us.wwwroot}/api/xmlrpc/server.php`;
  const response = await fetch(url, {
    method: 'POST',
    body: new Uint8Array(fake.buildRequest(ourPem, encodeMethodCall(method, params))),
    headers: { 'Content-Type': 'text/xml' },
  });
  if (response.status !== 200) throw new Error(`POST ${url} (${method}) answered HTTP ${response.status}: ${await response.text()}`);
  const opened = await fake.openResponse(Buffer.from(await response.arrayBuffer()), ourPem);
  return { status: response.status, verified: opened.verified, response: decodeMethodResponse(parseXml(opened.payload, 6007)) };
}

/** callUsAs for a call that must succeed: the struct it answers, or an Error naming the fault. */
export async function callUsForStruct(
  fake: FakePeer,
  us: Pick<ServiceUnderTest, 'running' | 'wwwroot'>,
  method: string,
  params: XmlRpcValue[],
): Promise<XmlRpcStruct> {
  const { response } = await callUsAs(fake, us, method, params);
  if ('fault' in response) throw new Error(`${method}: fault ${response.fault.code} ${response.fault.message}`);
  return response.value as XmlRpcStruct;
}
