/**
 * Envelopes we build (mnet-protocol.md §3.1, §4.2, checklist §12 items 6–12, 14).
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FaultCode, MnetFault } from '../../../src/errors.js';
import {
  assertSha1SignaturesWork,
  signPayload,
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
  type DecryptionKey,
} from '../../../src/mnet/envelope.js';
import { rc4 } from '../../../src/mnet/rc4.js';
import { deriveRejectionSecret, rsaDecryptPkcs1Implicit } from '../../../src/mnet/rsa.js';
import { childNamed, parseXml, type XmlElement } from '../../../src/mnet/xml.js';
import { fixture as read } from '../../helpers/fixtures.js';
import { signedMessageWithKey } from '../../helpers/sign.js';


const maharaKey = crypto.createPrivateKey(read('keys/mahara.key.pem'));
const maharaCert = new crypto.X509Certificate(read('keys/mahara.cert.pem')).publicKey;
const moodleKey = crypto.createPrivateKey(read('keys/moodle.key.pem'));
const moodleCert = new crypto.X509Certificate(read('keys/moodle.cert.pem')).publicKey;
const moodleDecryption: DecryptionKey = { privateKey: moodleKey, rejectionSecret: deriveRejectionSecret(moodleKey) };
const maharaDecryption: DecryptionKey = { privateKey: maharaKey, rejectionSecret: deriveRejectionSecret(maharaKey) };

const PAYLOAD = Buffer.from(
  '<?xml version="1.0" encoding="utf-8"?>\n<methodResponse><params><param><value><string>Zoë &amp; ünïcode</string></value></param></params></methodResponse>',
  'utf8',
);
const DECLARATION = '<?xml version="1.0" encoding="iso-8859-1"?>';

const sign = (over: Partial<Parameters<typeof signedMessageWithKey>[0]> = {}) =>
  signedMessageWithKey({
    payload: PAYLOAD,
    wwwroot: 'http://mahara.test',
    timestamp: 1700000123,
    privateKey: maharaKey,
    publicKeyUrl: 'http://mahara.test/api/xmlrpc/publickey.php',
    ...over,
  });
const encrypt = (plaintext: Buffer) => buildEncryptedMessage({ plaintext, wwwroot: 'http://mahara.test', recipientKey: moodleCert });
const parse = (doc: Buffer) => parseXml(doc, FaultCode.NotXml);
const path2 = (el: XmlElement, ...names: string[]) => names.reduce<XmlElement>((e, n) => childNamed(e, n)!, el);

describe('buildSignedMessage', () => {
  const doc = sign();
  const text = doc.toString('latin1');

  it('reads back to the same payload, wwwroot and timestamp, and verifies', () => {
    const msg = readSignedMessage(parse(doc));
    expect(msg.payload.equals(PAYLOAD)).toBe(true);
    expect(msg.wwwroot).toBe('http://mahara.test');
    expect(msg.timestamp).toBe(1700000123);
    expect(verifySignedMessage(msg, maharaCert)).toBe(true);
    expect(verifySignedMessage(msg, moodleCert)).toBe(false);
  });

  it('starts with the declaration and has <signedMessage> within the first 100 bytes, not at 0', () => {
    expect(text.startsWith(`${DECLARATION}\n    <signedMessage>\n`)).toBe(true);
    expect(text.indexOf('<signedMessage>')).toBe(48);
    expect(text.endsWith('\n    </signedMessage>')).toBe(true);
    expect(/^[\x0a\x20-\x7e]*$/.test(text)).toBe(true); // ASCII only, LF only
  });

  it('writes the element structure of §3.1 in order, 4 spaces per level', () => {
    const root = parse(doc);
    expect(root.children.map((c) => c.name)).toEqual(['Signature', 'object', 'wwwroot', 'timestamp']);
    const signature = root.children[0]!;
    expect(signature.attrs).toEqual({ Id: 'MoodleSignature', xmlns: 'http://www.w3.org/2000/09/xmldsig#' });
    expect(signature.children.map((c) => c.name)).toEqual(['SignedInfo', 'SignatureValue', 'KeyInfo']);
    expect(path2(signature, 'SignedInfo').children.map((c) => c.name)).toEqual(['CanonicalizationMethod', 'SignatureMethod', 'Reference']);
    expect(path2(signature, 'SignedInfo', 'Reference').attrs).toEqual({ URI: '#XMLRPC-MSG' });
    expect(path2(signature, 'KeyInfo', 'RetrievalMethod').attrs).toEqual({ URI: 'http://mahara.test/api/xmlrpc/publickey.php' });
    expect(root.children[1]!.attrs).toEqual({ ID: 'XMLRPC-MSG' });
    expect(text).toMatch(/\n {20}<DigestValue>[0-9a-f]{40}<\/DigestValue>\n/);
    expect(text).toMatch(/\n {12}<SignatureValue>[A-Za-z0-9+/]+=*<\/SignatureValue>\n/);
    expect(text).toMatch(/\n {8}<object ID="XMLRPC-MSG">[A-Za-z0-9+/]+=*<\/object>\n/);
    expect(text).toMatch(/\n {8}<timestamp>1700000123<\/timestamp>\n/);
  });

  it('writes DigestValue as 40 lowercase hex SHA-1 of the payload', () => {
    const digest = path2(parse(doc), 'Signature', 'SignedInfo', 'Reference', 'DigestValue').text;
    expect(digest).toBe(crypto.createHash('sha1').update(PAYLOAD).digest('hex'));
  });

  it('signs with RSASSA-PKCS1-v1_5/SHA-1 over the exact payload bytes', () => {
    const value = path2(parse(doc), 'Signature', 'SignatureValue').text;
    expect(crypto.verify('sha1', PAYLOAD, maharaCert, Buffer.from(value, 'base64'))).toBe(true);
    expect(crypto.createPublicKey(maharaKey).export({ format: 'der', type: 'spki' })).toEqual(maharaCert.export({ format: 'der', type: 'spki' }));
  });

  it('drops a trailing slash from wwwroot and escapes markup and non-ASCII', () => {
    const msg = readSignedMessage(parse(sign({ wwwroot: 'http://mahara.test/' })));
    expect(msg.wwwroot).toBe('http://mahara.test');
    const odd = sign({ wwwroot: 'http://ex.test/a&b<ü', publicKeyUrl: 'http://ex.test/"pk"' });
    expect(odd.toString('latin1')).toContain('<wwwroot>http://ex.test/a&amp;b&lt;&#252;</wwwroot>');
    expect(/^[\x0a\x20-\x7e]*$/.test(odd.toString('latin1'))).toBe(true);
    const root = parse(odd);
    expect(readSignedMessage(root).wwwroot).toBe('http://ex.test/a&b<ü');
    expect(path2(root, 'Signature', 'KeyInfo', 'RetrievalMethod').attrs.URI).toBe('http://ex.test/"pk"');
  });

  it.each([1.5, -1, Number.NaN, 2 ** 60])('refuses timestamp %s', (timestamp) => {
    expect(() => sign({ timestamp })).toThrow(MnetFault);
  });
});

describe('verifySignedMessage', () => {
  const msg = readSignedMessage(parse(sign()));

  it('is false for a tampered signature, payload or the wrong key', () => {
    const signature = Buffer.from(msg.signature);
    signature[10]! ^= 0x40;
    expect(verifySignedMessage({ ...msg, signature }, maharaCert)).toBe(false);
    const payload = Buffer.from(msg.payload);
    payload[payload.length - 2]! ^= 0x01;
    expect(verifySignedMessage({ ...msg, payload }, maharaCert)).toBe(false);
    expect(verifySignedMessage({ ...msg, signature: msg.signature.subarray(1) }, maharaCert)).toBe(false);
    expect(verifySignedMessage({ ...msg, signature: Buffer.alloc(0) }, maharaCert)).toBe(false);
    expect(verifySignedMessage(msg, moodleCert)).toBe(false);
  });

  it('ignores DigestValue (§3.2, checklist 14)', () => {
    const wrongDigest = sign().toString('latin1').replace(/<DigestValue>[0-9a-f]+</, `<DigestValue>${'0'.repeat(40)}<`);
    const m = readSignedMessage(parse(Buffer.from(wrongDigest, 'latin1')));
    expect(m.digestHex).toBe('0'.repeat(40));
    expect(verifySignedMessage(m, maharaCert)).toBe(true);
  });

  it('is false for a non-RSA key', () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecSigned = { ...msg, signature: crypto.sign('sha1', msg.payload, ec.privateKey) };
    expect(verifySignedMessage(ecSigned, ec.publicKey)).toBe(false);
  });
});

describe('buildEncryptedMessage / decryptEnvelope', () => {
  const signed = sign();
  const doc = encrypt(signed);
  const text = doc.toString('latin1');

  it('opens with the recipient key to the exact plaintext', async () => {
    const msg = readEncryptedMessage(parse(doc));
    expect(msg.wwwroot).toBe('http://mahara.test');
    const result = await decryptEnvelope(msg, [moodleDecryption]);
    expect(result?.keyIndex).toBe(0);
    expect(result?.plaintext.equals(signed)).toBe(true);
    expect((await decryptEnvelope(msg, [maharaDecryption, moodleDecryption]))?.keyIndex).toBe(1);
  });

  it('uses a 16-byte RC4 key in a modulus-sized RSA block, ciphertext as long as the plaintext', async () => {
    const msg = readEncryptedMessage(parse(doc));
    expect(msg.encryptedKey.length).toBe(256);
    expect(msg.data.length).toBe(signed.length);
    const key = await rsaDecryptPkcs1Implicit(moodleKey, msg.encryptedKey, moodleDecryption.rejectionSecret);
    expect(key.length).toBe(16);
    expect(rc4(key, msg.data).equals(signed)).toBe(true);
  });

  it('uses a fresh key per message', async () => {
    const a = readEncryptedMessage(parse(encrypt(signed)));
    const b = readEncryptedMessage(parse(encrypt(signed)));
    const unwrap = (m: typeof a) => rsaDecryptPkcs1Implicit(moodleKey, m.encryptedKey, moodleDecryption.rejectionSecret);
    expect((await unwrap(a)).equals(await unwrap(b))).toBe(false);
    expect(a.data.equals(b.data)).toBe(false);
  });

  it('puts <encryptedMessage> within the first 100 bytes after a declaration, EncryptedData before EncryptedKey', () => {
    expect(text.startsWith(`${DECLARATION}\n    <encryptedMessage>\n`)).toBe(true);
    expect(text.indexOf('<encryptedMessage>')).toBe(48);
    expect(text.endsWith('\n    </encryptedMessage>')).toBe(true);
    expect(text.indexOf('<EncryptedData')).toBeLessThan(text.indexOf('<EncryptedKey'));
    const root = parse(doc);
    expect(root.children.map((c) => c.name)).toEqual(['EncryptedData', 'EncryptedKey', 'wwwroot']);
    expect(root.children[0]!.children.map((c) => c.name)).toEqual(['EncryptionMethod', 'ds:KeyInfo', 'CipherData']);
    expect(root.children[1]!.children.map((c) => c.name)).toEqual([
      'EncryptionMethod',
      'ds:KeyInfo',
      'CipherData',
      'ReferenceList',
      'CarriedKeyName',
    ]);
    expect(text.match(/<CipherValue>[A-Za-z0-9+/]+=*<\/CipherValue>/g)).toHaveLength(2);
  });

  it('returns null for a tampered key block, tampered data, the wrong key or no key', async () => {
    const msg = readEncryptedMessage(parse(doc));
    const encryptedKey = Buffer.from(msg.encryptedKey);
    encryptedKey[128]! ^= 0x01;
    expect(await decryptEnvelope({ ...msg, encryptedKey }, [moodleDecryption])).toBeNull();
    const data = Buffer.from(msg.data);
    data[0]! ^= 0x1c; // '<' becomes ' '
    expect(await decryptEnvelope({ ...msg, data }, [moodleDecryption])).toBeNull();
    const data2 = Buffer.from(msg.data);
    data2[50]! ^= 0x01; // inside "<signedMessage"
    expect(await decryptEnvelope({ ...msg, data: data2 }, [moodleDecryption])).toBeNull();
    expect(await decryptEnvelope(msg, [maharaDecryption])).toBeNull();
    expect(await decryptEnvelope(msg, [])).toBeNull();
    expect(await decryptEnvelope({ ...msg, data: Buffer.alloc(0) }, [moodleDecryption])).toBeNull();
  });

  it('accepts a signedMessage or methodCall plaintext without declaration or with a BOM, nothing else', async () => {
    const open = (plaintext: string) =>
      decryptEnvelope(readEncryptedMessage(parse(encrypt(Buffer.from(plaintext, 'latin1')))), [moodleDecryption]);
    expect((await open('<signedMessage></signedMessage>'))?.keyIndex).toBe(0);
    expect((await open('\xef\xbb\xbf<?xml version="1.0"?>\r\n\t<signedMessage>\n</signedMessage>'))?.keyIndex).toBe(0);
    // An encrypted but unsigned call opens, so the server can refuse it with 6005 (§4.3 step 4).
    expect((await open('<?xml version="1.0"?><methodCall></methodCall>'))?.keyIndex).toBe(0);
    expect(await open('<?xml version="1.0"?><methodResponse></methodResponse>')).toBeNull();
    expect(await open('<signedMessages></signedMessages>')).toBeNull();
    expect(await open('x<signedMessage></signedMessage>')).toBeNull();
  });
});

describe('assertSha1SignaturesWork (§11)', () => {
  it('passes with a matching pair and refuses a mismatched one with InvalidConfiguration', () => {
    const a = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const b = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => assertSha1SignaturesWork(a.privateKey, a.publicKey)).not.toThrow();
    expect(() => assertSha1SignaturesWork(a.privateKey, b.publicKey)).toThrow(expect.objectContaining({ code: FaultCode.InvalidConfiguration }));
  });
});

describe('signPayload', () => {
  it('is PKCS#1 v1.5 SHA-1 over the exact bytes, made off the main thread, the same as a synchronous signature', async () => {
    const signature = await signPayload(PAYLOAD, maharaKey);
    expect(signature.equals(crypto.sign('sha1', PAYLOAD, maharaKey))).toBe(true);
    expect(crypto.verify('sha1', PAYLOAD, crypto.createPublicKey(maharaKey), signature)).toBe(true);
  });
});
