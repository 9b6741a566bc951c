import path from 'node:path';
import cron from 'node-cron';
import { FaultCode, MnetFault } from './errors.js';

/**
 * The only reader of process.env (style.md). Every setting is validated here, defaults are filled once,
 * and the rest of the code receives a complete, frozen Config.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface CertificateSubjectConfig {
  country: string;
  province: string;
  locality: string;
  organisation: string;
  email: string;
}

export interface MnetConfig {
  /** Answer MNet at all; when off the endpoint answers 403 with an empty body (§1.2). */
  networking: boolean;
  /** With networking off, answer fault 6012 instead of the bare 403 (Mahara's enablenetworkingdebug). */
  debug: boolean;
  /** Refuse requests whose Host header names another host than WWWROOT (fault 6013, §1.2). */
  checkHost: boolean;
  /** Client: reject responses whose timestamp is this far ahead of us (§3.4, 15..300 s). */
  driftThresholdSeconds: number;
  /** Server: opt-in request timestamp window with replay cache, 0 = off (§3.4). */
  requestWindowSeconds: number;
  /** Largest request body the server reads, in bytes. */
  maxRequestBytes: number;
  /** Largest response body our client reads, in bytes. */
  maxResponseBytes: number;
  /** Client request timeout (both PHP clients use 60 s). */
  clientTimeoutMs: number;
  keyDays: number;
  keyBits: number;
  keyHistory: number;
  /** Register unknown callers of system/keyswap (§5.4). */
  promiscuous: boolean;
  subject: CertificateSubjectConfig;
}

/** Portfolio import knobs (portfolio-import.md §2.5, §7). */
export interface PortfolioConfig {
  /** Always answer 'queue' to content intents (portfolio.import.forceQueue). */
  forceQueue: boolean;
  /** A "wait" export above this many zip bytes is queued instead (portfolio.import.immediateMaxBytes). */
  immediateMaxBytes: number;
  /** Largest zip we fetch (maxZipBytes, §7). */
  maxZipBytes: number;
  /** Queue items one cron run takes (portfolio.import.cronBatch). */
  cronBatch: number;
  /** Attempts before a queued import is marked failed (portfolio.import.maxAttempts). */
  maxAttempts: number;
  /** node-cron expression of the queue run, or '' for none (PORTFOLIO_CRON, default every five minutes). */
  cronSchedule: string;
  /** A `processing` claim older than this is taken to belong to a worker that died. */
  staleClaimSeconds: number;
  /** LEAP trace level for imports over MNet (Mahara's leapovermnetloglevel, §6.10). */
  leapLogLevel: number;
  /** Lower-case extensions a file may have; empty allows every type (Mahara's validfiletypes). */
  allowedExtensions: readonly string[];
  /** Name a second `essay.pdf` in `incoming` `essay.1.pdf` instead of storing two of the same name (§5.4). */
  renameOnCollision: boolean;
}

export interface Config {
  port: number;
  /** Our public base URL without a trailing slash, as it appears on the wire. */
  wwwroot: string;
  dataDir: string;
  /** PostgreSQL connection string; undefined = embedded PGlite under dataDir. */
  databaseUrl: string | undefined;
  logLevel: LogLevel;
  siteName: string;
  /** Seconds a browser session lasts after login or SSO landing (SESSION_LIFETIME). */
  sessionLifetimeSeconds: number;
  /** Seconds a service provider has to confirm an SSO jump token with user_authorise (SSO_CONFIRM_WINDOW, §8.2). */
  ssoConfirmWindowSeconds: number;
  /** Path prefix of the SchoolTool methods, ending in "/" (SCHOOLTOOL_METHOD_PREFIX, §10). */
  schooltoolMethodPrefix: string;
  mnet: MnetConfig;
  portfolio: PortfolioConfig;
}

/** A configuration mistake, reported at start with the setting's name. */
function configError(message: string): MnetFault {
  return new MnetFault(FaultCode.InvalidConfiguration, message);
}

type Env = Record<string, string | undefined>;

function intSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw configError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw configError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolSetting(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw configError(`${name} must be true or false, got "${env[name]}"`);
}

/**
 * A method path prefix: path segments that Moodle's method-name validator accepts (§2.1), each followed
 * by "/" (added when missing); no source defines SchoolTool's, so the default is only ours (§10).
 */
/** A node-cron expression, or '' / 'off' for no schedule. */
function cronSetting(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  if (raw === undefined) return fallback;
  if (raw === '' || raw.toLowerCase() === 'off') return '';
  if (!cron.validate(raw)) throw configError(`${name} must be a cron expression such as "*/5 * * * *" or off, got "${raw}"`);
  return raw;
}

/** A comma- or space-separated list, lower-cased, leading dots dropped ("pdf, .docx" → pdf, docx). */
function listSetting(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(/[\s,]+/)
    .map((v) => v.trim().toLowerCase().replace(/^\.+/, ''))
    .filter((v) => v !== '');
}

function methodPrefixSetting(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const prefix = raw.endsWith('/') ? raw : `${raw}/`;
  if (!/^[A-Za-z0-9]+\/([A-Za-z0-9_.-]+\/)*$/.test(prefix) || prefix.includes('..')) {
    throw configError(`${name} must look like "schooltool/mnet.php/" (letters, digits, _ . - and /), got "${raw}"`);
  }
  return prefix;
}

/** Normalises a site's base URL the way MNet writes it: scheme://host[:port][/path], no trailing slash. */
export function normaliseWwwroot(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw configError(`"${raw}" is not an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(`"${raw}" must start with http:// or https://`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw configError(`"${raw}" must not contain a query, fragment or credentials`);
  }
  return `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
}

export function loadConfig(env: Env = process.env): Config {
  const port = intSetting(env, 'PORT', 8080, 1, 65535);
  const wwwroot = normaliseWwwroot(env.WWWROOT ?? `http://localhost:${port}`);
  const logLevel = (env.LOG_LEVEL ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw configError(`LOG_LEVEL must be one of debug, info, warn, error, got "${env.LOG_LEVEL}"`);
  }
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw configError('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  const requestWindowSeconds = intSetting(env, 'MNET_REQUEST_WINDOW', 0, 0, 86400);
  if (requestWindowSeconds !== 0 && requestWindowSeconds < 300) {
    // Real peers' clocks drift; a window under five minutes refuses honest Moodle sites (§3.4).
    throw configError('MNET_REQUEST_WINDOW must be 0 (off) or at least 300 seconds');
  }
  const siteName = env.SITE_NAME?.trim() || 'Portfolio Import Service';
  const config: Config = {
    port,
    wwwroot,
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    databaseUrl,
    logLevel: logLevel as LogLevel,
    siteName,
    // Moodle's default PHP session lifetime is also two hours; at least five minutes so a landing is usable.
    sessionLifetimeSeconds: intSetting(env, 'SESSION_LIFETIME', 7200, 300, 30 * 86400),
    // Moodle's own default is 30 s (rpc_negotiation_timeout); Mahara's 15 s is too short for slow peers.
    ssoConfirmWindowSeconds: intSetting(env, 'SSO_CONFIRM_WINDOW', 30, 5, 300),
    schooltoolMethodPrefix: methodPrefixSetting(env, 'SCHOOLTOOL_METHOD_PREFIX', 'schooltool/mnet.php/'),
    portfolio: {
      forceQueue: boolSetting(env, 'PORTFOLIO_FORCE_QUEUE', false),
      immediateMaxBytes: intSetting(env, 'PORTFOLIO_IMMEDIATE_MAX_BYTES', 32 * 1024 * 1024, 0, 2 ** 40),
      maxZipBytes: intSetting(env, 'PORTFOLIO_MAX_ZIP_BYTES', 512 * 1024 * 1024, 1024, 2 ** 40),
      cronBatch: intSetting(env, 'PORTFOLIO_CRON_BATCH', 20, 1, 10000),
      maxAttempts: intSetting(env, 'PORTFOLIO_MAX_ATTEMPTS', 5, 1, 100),
      cronSchedule: cronSetting(env, 'PORTFOLIO_CRON', '*/5 * * * *'),
      staleClaimSeconds: intSetting(env, 'PORTFOLIO_STALE_CLAIM', 3600, 60, 7 * 86400),
      leapLogLevel: intSetting(env, 'LEAP_OVER_MNET_LOGLEVEL', 0, 0, 2),
      allowedExtensions: listSetting(env, 'PORTFOLIO_ALLOWED_EXTENSIONS'),
      renameOnCollision: boolSetting(env, 'PORTFOLIO_RENAME_ON_COLLISION', false),
    },
    mnet: {
      networking: boolSetting(env, 'MNET_NETWORKING', true),
      debug: boolSetting(env, 'MNET_DEBUG', false),
      checkHost: boolSetting(env, 'MNET_CHECK_HOST', true),
      driftThresholdSeconds: intSetting(env, 'MNET_DRIFT_THRESHOLD', 15, 15, 300),
      requestWindowSeconds,
      maxRequestBytes: intSetting(env, 'MNET_MAX_REQUEST_BYTES', 16 * 1024 * 1024, 64 * 1024, 2 ** 31),
      maxResponseBytes: intSetting(env, 'MNET_MAX_RESPONSE_BYTES', 64 * 1024 * 1024, 64 * 1024, 2 ** 31),
      clientTimeoutMs: intSetting(env, 'MNET_CLIENT_TIMEOUT', 60, 1, 3600) * 1000,
      keyDays: intSetting(env, 'MNET_KEY_DAYS', 365, 1, 3650),
      keyBits: intSetting(env, 'MNET_KEY_BITS', 2048, 2048, 4096),
      keyHistory: intSetting(env, 'MNET_KEY_HISTORY', 6, 1, 20),
      promiscuous: boolSetting(env, 'MNET_PROMISCUOUS', false),
      subject: {
        country: (env.SITE_COUNTRY?.trim() || 'NZ').toUpperCase(),
        province: env.SITE_PROVINCE?.trim() || 'Wellington',
        locality: env.SITE_LOCALITY?.trim() || 'Te Aro',
        organisation: siteName,
        email: env.SITE_EMAIL?.trim() || `noreply@${new URL(wwwroot).hostname}`,
      },
    },
  };
  if (![2048, 3072, 4096].includes(config.mnet.keyBits)) {
    throw configError('MNET_KEY_BITS must be 2048, 3072 or 4096');
  }
  if (config.mnet.subject.country.length !== 2) throw configError('SITE_COUNTRY must be a two-letter code');
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(value);
}
