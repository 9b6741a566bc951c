import crypto from 'node:crypto';
import { buildSignedMessage } from '../../src/mnet/envelope.js';

/** buildSignedMessage with the signature made on the spot (synchronously), for building test requests. */
export function signedMessageWithKey(o: {
  payload: Buffer;
  wwwroot: string;
  timestamp: number;
  privateKey: crypto.KeyObject;
  publicKeyUrl: string;
}): Buffer {
  const { privateKey, ...rest } = o;
  return buildSignedMessage({ ...rest, signature: crypto.sign('sha1', o.payload, privateKey) });
}
