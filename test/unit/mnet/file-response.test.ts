import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import { PIECE } from '../../../src/mnet/batched-file.js';
import { encodeFault } from '../../../src/mnet/codec.js';
import { buildEncryptedMessage, type DecryptionKey } from '../../../src/mnet/envelope.js';
import { FileResponseReceiver, fileResponseBodyLimit, type OpenedFileResponse } from '../../../src/mnet/file-response.js';
import { deriveRejectionSecret } from '../../../src/mnet/rsa.js';
import { faultOf } from '../../helpers/faults.js';
import { fixture } from '../../helpers/fixtures.js';
import { signedMessageWithKey } from '../../helpers/sign.js';

/**
 * FileResponseReceiver on its own: Moodle's real fetch_file answer (vector 05) and faults (09, 10), the
 * payload shapes XML-RPC allows for a string, bodies cut into pieces of any size, and the refusals.
 * The HTTP side and the client's checks are in test/integration/mnet/client.callForFile.test.ts.
 */
const key = (pem: string): DecryptionKey => {
  const privateKey = crypto.createPrivateKey(fixture(pem));
  return { privateKey, rejectionSecret: deriveRejectionSecret(privateKey) };
};
const mahara = key('keys/mahara.key.pem');
const moodleOld = key('keys/moodle-old.key.pem');
const maharaCert = new crypto.X509Certificate(fixture('keys/mahara.cert.pem')).publicKey;
const moodleKey = crypto.createPrivateKey(fixture('keys/moodle.key.pem'));
const moodleCert = new crypto.X509Certificate(fixture('keys/moodle.cert.pem')).publicKey;
const moodleOldCert = new crypto.X509Certificate(fixture('keys/moodle-old.cert.pem')).publicKey;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pis-fr-'));
const target = path.join(dir, 'import.zip');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => expect(fs.readdirSync(dir)).toEqual([]));

/** A response as Moodle builds it: `payload` signed by Moodle, encrypted to us. */
function response(payload: Buffer | string): Buffer {
  const signed = signedMessageWithKey({
    payload: Buffer.from(payload),
    wwwroot: 'http://moodle.test',
    timestamp: 1_700_000_000,
    privateKey: moodleKey,
    publicKeyUrl: 'http://moodle.test/mnet/publickey.php',
  });
  return buildEncryptedMessage({ plaintext: signed, wwwroot: 'http://moodle.test', recipientKey: maharaCert });
}

const xmlrpc = (value: string) =>
  `<?xml version="1.0"?>\n<methodResponse>\n<params>\n<param>\n${value}\n</param>\n</params>\n</methodResponse>`;

interface Received {
  opened: OpenedFileResponse;
  /** The target after open(): the file, or undefined when none was written (a fault). */
  file: Buffer | undefined;
}

/** Runs both passes over `body` cut into `pieceSize` pieces; returns what open() found and the file. */
async function receive(
  body: Buffer,
  o: { pieceSize?: number; maxBytes?: number; keys?: DecryptionKey[]; peerKey?: crypto.KeyObject } = {},
): Promise<Received> {
  const receiver = await FileResponseReceiver.create({ path: target, maxBytes: o.maxBytes ?? 1 << 30, maxPlainBytes: 1 << 20, peerLabel: 'moodle' });
  try {
    const size = o.pieceSize ?? 65536;
    const pieces: Buffer[] = [];
    for (let i = 0; i < body.length; i += size) pieces.push(body.subarray(i, i + size));
    await pipeline(Readable.from(pieces), receiver.sink());
    expect(fs.existsSync(`${target}.spool`)).toBe(true);
    const received = receiver.received();
    if ('plain' in received) throw new Error('plain response');
    const opened = await receiver.open(o.keys ?? [mahara], o.peerKey ?? moodleCert);
    return { opened, file: fs.existsSync(target) ? fs.readFileSync(target) : undefined };
  } finally {
    await receiver.dispose();
  }
}

describe('FileResponseReceiver', () => {
  it('reads Moodle\'s own fetch_file answer (vector 05) in pieces of any size', async () => {
    const body = fixture('vectors/05-fetch_file/response.encrypted.xml');
    const zip = fixture('zips/export-file.zip');
    for (const pieceSize of [1, 3, 100, 65536]) {
      const { opened, file } = await receive(body, { pieceSize });
      expect(opened).toEqual({
        wwwroot: 'http://moodle.test',
        timestamp: 1795344737,
        verified: true,
        result: { bytes: zip.length, sha1: crypto.createHash('sha1').update(zip).digest('hex') },
      });
      expect(file?.equals(zip)).toBe(true);
    }
  });

  it('returns Moodle\'s signed faults (vectors 09, 10) whole, for the codec', async () => {
    const fault = await receive(fixture('vectors/09-fault-7012-nosuchfunction/response.encrypted.xml'), { pieceSize: 7 });
    expect(fault.opened.result).toEqual({ fault: fixture('vectors/09-fault-7012-nosuchfunction/response.xmlrpc.xml') });
    expect(fault.opened.verified).toBe(true);
    expect(fault.file).toBeUndefined();
    const oldKey = await receive(fixture('vectors/10-fault-7025-old-key/response.encrypted.xml'), { peerKey: moodleOldCert });
    expect(oldKey.opened.result).toEqual({ fault: fixture('vectors/10-fault-7025-old-key/response.xmlrpc.xml') });
    expect(oldKey.opened.verified).toBe(true);
  });

  const data = crypto.randomBytes(5000);
  const b64 = data.toString('base64');
  const wrapped = b64.match(/.{1,76}/g)!.join('\r\n');
  it.each([
    ['<string>', `<value><string>${b64}</string></value>`],
    ['a bare <value>', `<value>${b64}</value>`],
    ['<base64> wrapped at 76 columns', `<value><base64>\n${wrapped}\n</base64></value>`],
    ['layout around <string>', `<value>\n  <string>${b64}</string>\n</value>`],
    ['line breaks as character references', `<value><string>${b64.match(/.{1,64}/g)!.join('&#10;')}</string></value>`],
    ['a CDATA section', `<value><string><![CDATA[${b64.slice(0, 100)}]]>${b64.slice(100)}</string></value>`],
    ['no padding', `<value><string>${b64.replace(/=+$/, '')}</string></value>`],
    ['a prefixed type element', `<value><ex:string>${b64}</ex:string></value>`],
  ])('decodes %s', async (_case, value) => {
    for (const pieceSize of [1, 1000]) {
      const { opened, file } = await receive(response(xmlrpc(value)), { pieceSize });
      expect(opened.result).toEqual({ bytes: data.length, sha1: crypto.createHash('sha1').update(data).digest('hex') });
      expect(file?.equals(data)).toBe(true);
    }
  });

  it.each([
    ['an empty <string>', '<value><string></string></value>'],
    ['<string/>', '<value><string/></value>'],
    ['<value/>', '<value/>'],
  ])('writes an empty file for %s', async (_case, value) => {
    const { opened, file } = await receive(response(xmlrpc(value)));
    expect(opened.result).toEqual({ bytes: 0, sha1: crypto.createHash('sha1').digest('hex') });
    expect(file?.length).toBe(0);
  });

  it('also decrypts an answer encrypted to one of our older keys', async () => {
    const { opened } = await receive(response(xmlrpc(`<value><string>${b64}</string></value>`)), { keys: [moodleOld, mahara] });
    expect('bytes' in opened.result && opened.result.bytes).toBe(data.length);
  });

  it('reports a signature that does not verify (another key)', async () => {
    const { opened } = await receive(response(xmlrpc(`<value><string>${b64}</string></value>`)), { peerKey: moodleOldCert });
    expect(opened.verified).toBe(false);
  });

  it.each([
    ['an int', '<value><int>42</int></value>'],
    ['a struct', '<value><struct><member><name>a</name><value>b</value></member></struct></value>'],
    ['text and a type element', `<value>QUJD<string>${b64}</string></value>`],
    ['two type elements', `<value><string>QUJD</string><string>QUJD</string></value>`],
    ['an element inside <string>', '<value><string>QUJD<b/>QUJD</string></value>'],
    ['text after the type element', '<value><string>QUJD</string>QUJD</value>'],
    ['a string that is not base64', '<value><string>not base64!</string></value>'],
    ['truncated base64', '<value><string>QUJDR</string></value>'],
    ['two values in a param', '<value><string>QUJD</string></value><value><string>QUJD</string></value>'],
  ])('refuses %s (BadResponse)', async (_case, value) => {
    expect(await faultOf(receive(response(xmlrpc(value))))).toBe(FaultCode.BadResponse);
  });

  it.each([
    ['two params', `${xmlrpc('<value><string>QUJD</string></value>').replace('</params>', '<param><value>QUJD</value></param></params>')}`],
    ['no params', '<?xml version="1.0"?><methodResponse><params></params></methodResponse>'],
    ['an empty methodResponse', '<?xml version="1.0"?><methodResponse/>'],
    ['another root', '<?xml version="1.0"?><methodCall><params/></methodCall>'],
    ['stray text', '<?xml version="1.0"?><methodResponse>x<params><param><value>QUJD</value></param></params></methodResponse>'],
    ['not XML', 'QUJD'],
  ])('refuses a payload with %s (BadResponse)', async (_case, payload) => {
    expect(await faultOf(receive(response(payload)))).toBe(FaultCode.BadResponse);
  });

  it('refuses more than maxBytes (BodyTooLarge)', async () => {
    const body = response(xmlrpc(`<value><string>${b64}</string></value>`));
    expect(await faultOf(receive(body, { maxBytes: data.length - 1 }))).toBe(FaultCode.BodyTooLarge);
    const { opened } = await receive(body, { maxBytes: data.length });
    expect('bytes' in opened.result && opened.result.bytes).toBe(data.length);
  });

  it('refuses an answer none of our keys opens (BadResponse)', async () => {
    expect(await faultOf(receive(response(xmlrpc('<value>QUJD</value>')), { keys: [moodleOld] }))).toBe(FaultCode.BadResponse);
  });

  it.each([
    ['no EncryptedKey', (b: string) => b.replace(/<EncryptedKey[\s\S]*<\/EncryptedKey>/, '')],
    ['no outer wwwroot', (b: string) => b.replace(/<wwwroot>[^<]*<\/wwwroot>/, '')],
    ['two data CipherValues', (b: string) => b.replace('</CipherData>', '</CipherData><CipherData><CipherValue>QUJD</CipherValue></CipherData>')],
    ['garbage in the data CipherValue', (b: string) => b.replace('<CipherValue>', '<CipherValue>!')],
    ['a DOCTYPE', (b: string) => b.replace('?>', '?><!DOCTYPE x>')],
    ['another root', (b: string) => b.replace(/encryptedMessage/g, 'html')],
  ])('refuses an outer envelope with %s (BadResponse)', async (_case, mangle) => {
    const body = Buffer.from(mangle(response(xmlrpc('<value>QUJD</value>')).toString('latin1')), 'latin1');
    expect(await faultOf(receive(body))).toBe(FaultCode.BadResponse);
  });

  it('keeps a plain methodResponse whole, for the codec', async () => {
    const receiver = await FileResponseReceiver.create({ path: target, maxBytes: 100, maxPlainBytes: 1 << 20, peerLabel: 'moodle' });
    try {
      const fault = encodeFault(7020, 'unknown host');
      await pipeline(Readable.from([fault.subarray(0, 10), fault.subarray(10)]), receiver.sink());
      expect(receiver.received()).toEqual({ plain: fault });
    } finally {
      await receiver.dispose();
    }
  });

  it('refuses a plain methodResponse over maxPlainBytes (BodyTooLarge)', async () => {
    const receiver = await FileResponseReceiver.create({ path: target, maxBytes: 100, maxPlainBytes: 100, peerLabel: 'moodle' });
    try {
      expect(await faultOf(pipeline(Readable.from([encodeFault(7020, 'x'.repeat(200))]), receiver.sink()))).toBe(FaultCode.BodyTooLarge);
    } finally {
      await receiver.dispose();
    }
  });

  it('writes a file of many pieces over the spool it is reading, byte for byte', async () => {
    // Big enough for the worker thread (spool-decrypt.ts) and many batches: the file goes over the
    // spool's start while the rest of the spool is still to be read.
    const big = crypto.randomBytes(3 * PIECE + 12_345);
    const { opened, file } = await receive(response(xmlrpc(`<value><string>${big.toString('base64')}</string></value>`)), { pieceSize: 1 << 20 });
    expect(opened.result).toEqual({ bytes: big.length, sha1: crypto.createHash('sha1').update(big).digest('hex') });
    expect(file?.equals(big)).toBe(true);
  });

  it('replaces a file at the target only with a good answer, and removes what it made unless kept', async () => {
    fs.writeFileSync(target, 'an earlier attempt');
    expect(await faultOf(receive(response(xmlrpc('<value>QUJD</value>')), { keys: [moodleOld] }))).toBe(FaultCode.BadResponse);
    expect(fs.readFileSync(target, 'utf8')).toBe('an earlier attempt');
    expect(fs.existsSync(`${target}.spool`)).toBe(false);

    const receiver = await FileResponseReceiver.create({ path: target, maxBytes: 1 << 20, maxPlainBytes: 1 << 20, peerLabel: 'moodle' });
    await pipeline(Readable.from([fixture('vectors/05-fetch_file/response.encrypted.xml')]), receiver.sink());
    await receiver.open([mahara], moodleCert);
    expect(fs.readFileSync(target).equals(fixture('zips/export-file.zip'))).toBe(true);
    await receiver.dispose();
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.spool`)).toBe(false);
  });

  it('leaves the target after keep(), with mode 0600', async () => {
    const receiver = await FileResponseReceiver.create({ path: target, maxBytes: 1 << 20, maxPlainBytes: 1 << 20, peerLabel: 'moodle' });
    await pipeline(Readable.from([fixture('vectors/05-fetch_file/response.encrypted.xml')]), receiver.sink());
    await receiver.open([mahara], moodleCert);
    receiver.keep();
    await receiver.dispose();
    expect(fs.readFileSync(target).equals(fixture('zips/export-file.zip'))).toBe(true);
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    fs.rmSync(target);
  });
});

describe('fileResponseBodyLimit', () => {
  it('leaves room for the three base64 levels, wrapped lines and the envelopes', () => {
    const zip = 100 << 20;
    const payload = Math.ceil(zip / 3) * 4 + 200;
    const signed = Math.ceil(payload / 3) * 4 + 1500;
    const body = Math.ceil(signed / 3) * 4 + 1500;
    const wrapped = body * (78 / 76) ** 3;
    expect(fileResponseBodyLimit(zip)).toBeGreaterThan(wrapped);
    expect(fileResponseBodyLimit(zip)).toBeLessThan(body * 1.2);
  });
});
