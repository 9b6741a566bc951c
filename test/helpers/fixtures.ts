import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecryptionKey } from '../../src/mnet/envelope.js';
import { deriveRejectionSecret } from '../../src/mnet/rsa.js';

/** Moodle-made MNet vectors and keys (test/fixtures/mnet/README.md). */
export const MNET_FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/mnet');

export function fixture(relative: string): Buffer {
  return fs.readFileSync(path.join(MNET_FIXTURES, relative));
}

export function fixtureText(relative: string): string {
  return fixture(relative).toString('utf8');
}

export interface VectorSide {
  files: { xmlrpc: string; signed?: string; encrypted?: string; http_headers?: string };
  wire: 'plain' | 'encrypted';
  encrypted_to_cert?: string;
  decrypt_with_key?: string;
  outer_wwwroot?: string;
  signed_by_cert?: string;
  inner_wwwroot?: string;
  timestamp?: number;
  decoded: unknown;
}

export interface Vector {
  id: string;
  direction: string;
  from: string;
  to: string;
  method: string;
  request: VectorSide;
  response: VectorSide;
}

export const vectors: Vector[] = JSON.parse(fixtureText('vectors.json')).vectors;

export const MOODLE_WWWROOT = 'http://moodle.test';
export const MAHARA_WWWROOT = 'http://mahara.test';

export const MAHARA_CERT = fixtureText('keys/mahara.cert.pem');
export const MAHARA_KEY = fixtureText('keys/mahara.key.pem');
export const MOODLE_CERT = fixtureText('keys/moodle.cert.pem');
export const MOODLE_OLD_CERT = fixtureText('keys/moodle-old.cert.pem');

/** Moodle's fixture private key, ready to sign with or to open envelopes encrypted to it. */
const moodlePrivateKey = crypto.createPrivateKey(fixtureText('keys/moodle.key.pem'));
export const moodleKey: DecryptionKey = { privateKey: moodlePrivateKey, rejectionSecret: deriveRejectionSecret(moodlePrivateKey) };
