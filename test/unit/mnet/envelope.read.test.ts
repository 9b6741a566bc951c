/**
 * Reading envelopes: leniency where the spec asks for it (§3.2 base64, checklist 15) and the fault codes
 * for everything else (6009 wrong root, 6004 unauthenticatable signed envelope, 7023 undecryptable).
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import {
  buildEncryptedMessage,
  decodeBase64Lenient,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
} from '../../../src/mnet/envelope.js';
import { deriveRejectionSecret } from '../../../src/mnet/rsa.js';
import { parseXml } from '../../../src/mnet/xml.js';
import { faultCodeOf } from '../../helpers/faults.js';
import { fixture as read } from '../../helpers/fixtures.js';
import { signedMessageWithKey } from '../../helpers/sign.js';


const maharaKey = crypto.createPrivateKey(read('keys/mahara.key.pem'));
const maharaCert = new crypto.X509Certificate(read('keys/mahara.cert.pem')).publicKey;
const moodleKey = crypto.createPrivateKey(read('keys/moodle.key.pem'));
const moodleCert = new crypto.X509Certificate(read('keys/moodle.cert.pem')).publicKey;
const moodleDecryption = { privateKey: moodleKey, rejectionSecret: deriveRejectionSecret(moodleKey) };

const PAYLOAD = read('vectors/03-send_content_intent/response.xmlrpc.xml');
const SIGNED = signedMessageWithKey({
  payload: PAYLOAD,
  wwwroot: 'http://mahara.test',
  timestamp: 1700000123,
  privateKey: maharaKey,
  publicKeyUrl: 'http://mahara.test/api/xmlrpc/publickey.php',
}).toString('latin1');
const ENCRYPTED = buildEncryptedMessage({
  plaintext: Buffer.from(SIGNED, 'latin1'),
  wwwroot: 'http://mahara.test',
  recipientKey: moodleCert,
}).toString('latin1');

const parse = (text: string) => parseXml(text, FaultCode.NotXml);
const readSigned = (text: string) => readSignedMessage(parse(text));
const readEncrypted = (text: string) => readEncryptedMessage(parse(text));

/** Re-wraps every base64 element value: CRLF every 76 characters, some spaces, padding removed. */
const mangleBase64 = (text: string, tag: string) =>
  text.replace(new RegExp(`(<${tag}[^>]*>)([A-Za-z0-9+/=]+)(</${tag}>)`, 'g'), (_, open: string, b64: string, close: string) => {
    const stripped = b64.replace(/=+$/, '');
    const wrapped = stripped.match(/.{1,76}/g)!.join('\r\n');
    return `${open}\n  ${wrapped.slice(0, 10)} \t${wrapped.slice(10)}\n${close}`;
  });

describe('decodeBase64Lenient', () => {
  it.each([
    ['aGVsbG8=', 'hello'],
    ['aGVsbG8', 'hello'],
    [' aGVs\r\nbG8 =\n', 'hello'],
    ['aGVsbA==', 'hell'],
    ['aGVsbA', 'hell'],
    ['', ''],
  ])('decodes %j', (input, expected) => {
    expect(decodeBase64Lenient(input, FaultCode.BadSignature, 'x').toString()).toBe(expected);
  });

  it.each(['aGVs*G8=', 'aGVsbG8-', 'aGVsbG8_', 'a', 'aGVsb', 'aGVsbG8===', 'aG=VsbG8'])('refuses %j with the given code', (input) => {
    expect(faultCodeOf(() => decodeBase64Lenient(input, 4242, 'x'))).toBe(4242);
  });
});

describe('readSignedMessage', () => {
  it('reads base64 with line breaks, spaces and no padding (checklist 15)', () => {
    let text = mangleBase64(SIGNED, 'object');
    text = mangleBase64(text, 'SignatureValue');
    expect(text).not.toBe(SIGNED);
    expect(text).toContain('\r\n');
    const msg = readSigned(text);
    expect(msg.payload.equals(PAYLOAD)).toBe(true);
    expect(verifySignedMessage(msg, maharaCert)).toBe(true);
  });

  it('tolerates whitespace around wwwroot and timestamp, and a missing DigestValue', () => {
    const text = SIGNED.replace('<wwwroot>http://mahara.test<', '<wwwroot>\n  http://mahara.test\n<')
      .replace('<timestamp>1700000123<', '<timestamp> 1700000123\n<')
      .replace(/\s*<DigestValue>[^<]*<\/DigestValue>/, '');
    const msg = readSigned(text);
    expect(msg.wwwroot).toBe('http://mahara.test');
    expect(msg.timestamp).toBe(1700000123);
    expect(msg.digestHex).toBe('');
    expect(verifySignedMessage(msg, maharaCert)).toBe(true);
  });

  it.each([
    ['methodCall', '<?xml version="1.0"?><methodCall><methodName>x</methodName></methodCall>'],
    ['encryptedMessage', ENCRYPTED],
    ['a prefixed root', SIGNED.replace('<signedMessage>', '<x:signedMessage xmlns:x="urn:x">').replace('</signedMessage>', '</x:signedMessage>')],
    ['SignedMessage', SIGNED.replace('<signedMessage>', '<SignedMessage>').replace('</signedMessage>', '</SignedMessage>')],
  ])('refuses root %s with 6009', (_, text) => {
    expect(faultCodeOf(() => readSigned(text))).toBe(FaultCode.UnknownRoot);
  });

  it.each([
    ['no SignatureValue', SIGNED.replace(/<SignatureValue>[^<]*<\/SignatureValue>/, '')],
    ['an empty SignatureValue', SIGNED.replace(/<SignatureValue>[^<]*</, '<SignatureValue> <')],
    ['no Signature', SIGNED.replace(/<Signature [\s\S]*<\/Signature>/, '')],
    ['no object', SIGNED.replace(/<object[^>]*>[^<]*<\/object>/, '')],
    ['an empty object', SIGNED.replace(/(<object[^>]*>)[^<]*</, '$1<')],
    ['no wwwroot', SIGNED.replace(/<wwwroot>[^<]*<\/wwwroot>/, '')],
    ['an empty wwwroot', SIGNED.replace(/<wwwroot>[^<]*</, '<wwwroot>  <')],
    ['no timestamp', SIGNED.replace(/<timestamp>[^<]*<\/timestamp>/, '')],
    ['bad base64 in object', SIGNED.replace(/(<object[^>]*>)/, '$1*')],
    ['bad base64 in SignatureValue', SIGNED.replace(/<SignatureValue>/, '<SignatureValue>%')],
  ])('refuses a signed envelope with %s with 6004', (_, text) => {
    expect(text).not.toBe(SIGNED);
    expect(faultCodeOf(() => readSigned(text))).toBe(FaultCode.BadSignature);
  });

  it.each(['', 'abc', '12a', '1.5', '-1', '+1', '1e9', '0x10', '1 2', '1234567890123456'])('refuses timestamp %j with 6004', (ts) => {
    const text = SIGNED.replace(/<timestamp>[^<]*</, `<timestamp>${ts}<`);
    expect(faultCodeOf(() => readSigned(text))).toBe(FaultCode.BadSignature);
  });

  it('takes timestamp 0 and leading zeros as decimal', () => {
    expect(readSigned(SIGNED.replace(/<timestamp>[^<]*</, '<timestamp>0<')).timestamp).toBe(0);
    expect(readSigned(SIGNED.replace(/<timestamp>[^<]*</, '<timestamp>0017<')).timestamp).toBe(17);
  });
});

describe('readEncryptedMessage', () => {
  it('reads base64 with line breaks, spaces and no padding, and still decrypts', async () => {
    const text = mangleBase64(ENCRYPTED, 'CipherValue');
    expect(text).toContain('\r\n');
    const result = await decryptEnvelope(readEncrypted(text), [moodleDecryption]);
    expect(result?.plaintext.toString('latin1')).toBe(SIGNED);
  });

  it('ignores unknown elements such as Mahara\'s <X1>', async () => {
    const text = ENCRYPTED.replace('</encryptedMessage>', '<X1>nothing</X1></encryptedMessage>');
    expect((await decryptEnvelope(readEncrypted(text), [moodleDecryption]))?.keyIndex).toBe(0);
  });

  it.each([
    ['signedMessage', SIGNED],
    ['methodResponse', '<?xml version="1.0"?><methodResponse/>'],
    ['EncryptedMessage', ENCRYPTED.replace('<encryptedMessage>', '<EncryptedMessage>').replace('</encryptedMessage>', '</EncryptedMessage>')],
  ])('refuses root %s with 6009', (_, text) => {
    expect(faultCodeOf(() => readEncrypted(text))).toBe(FaultCode.UnknownRoot);
  });

  it.each([
    ['no EncryptedData', ENCRYPTED.replace(/<EncryptedData [\s\S]*<\/EncryptedData>/, '')],
    ['no EncryptedKey', ENCRYPTED.replace(/<EncryptedKey [\s\S]*<\/EncryptedKey>/, '')],
    ['an empty data CipherValue', ENCRYPTED.replace(/<CipherValue>[^<]*</, '<CipherValue><')],
    ['bad base64 in a CipherValue', ENCRYPTED.replace(/<CipherValue>/, '<CipherValue>!')],
  ])('refuses an encrypted envelope with %s with 7023', (_, text) => {
    expect(text).not.toBe(ENCRYPTED);
    expect(faultCodeOf(() => readEncrypted(text))).toBe(FaultCode.CannotDecrypt);
  });

  it('refuses an encrypted envelope without wwwroot with 6004', () => {
    const text = ENCRYPTED.replace(/<wwwroot>[^<]*<\/wwwroot>/, '');
    expect(faultCodeOf(() => readEncrypted(text))).toBe(FaultCode.BadSignature);
  });

  it('takes the data from EncryptedData and the key from EncryptedKey by path, not by order', () => {
    const data = ENCRYPTED.match(/<EncryptedData [\s\S]*<\/EncryptedData>/)![0];
    const key = ENCRYPTED.match(/<EncryptedKey [\s\S]*<\/EncryptedKey>/)![0];
    const swapped = ENCRYPTED.replace(data, '@@D').replace(key, data).replace('@@D', key);
    expect(swapped.indexOf('<EncryptedKey')).toBeLessThan(swapped.indexOf('<EncryptedData'));
    const a = readEncrypted(ENCRYPTED);
    const b = readEncrypted(swapped);
    expect(b.data.equals(a.data)).toBe(true);
    expect(b.encryptedKey.equals(a.encryptedKey)).toBe(true);
  });
});
