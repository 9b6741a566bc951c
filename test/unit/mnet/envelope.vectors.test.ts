/**
 * The envelope code against the envelopes Moodle's own PHP produced (test/fixtures/mnet, README.md there).
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import {
  buildEncryptedMessage,
  decryptEnvelope,
  readEncryptedMessage,
  readSignedMessage,
  verifySignedMessage,
  type DecryptionKey,
} from '../../../src/mnet/envelope.js';
import { deriveRejectionSecret, rsaDecryptPkcs1Implicit } from '../../../src/mnet/rsa.js';
import { childNamed, parseXml } from '../../../src/mnet/xml.js';
import { fixture as read, vectors } from '../../helpers/fixtures.js';
import { signedMessageWithKey } from '../../helpers/sign.js';



const KEY_FILES = ['keys/mahara.key.pem', 'keys/moodle.key.pem', 'keys/moodle-old.key.pem'];
const decryptionKeys = new Map<string, DecryptionKey>(
  KEY_FILES.map((file) => {
    const privateKey = crypto.createPrivateKey(read(file));
    return [file, { privateKey, rejectionSecret: deriveRejectionSecret(privateKey) }];
  }),
);
const CERT_FILES = ['keys/mahara.cert.pem', 'keys/moodle.cert.pem', 'keys/moodle-old.cert.pem'];
const publicKey = (certFile: string) => new crypto.X509Certificate(read(certFile)).publicKey;
const keyFileOfCert = (certFile: string) => certFile.replace('.cert.pem', '.key.pem');

const cases = vectors.flatMap((v) =>
  (['request', 'response'] as const)
    .filter((side) => v[side].wire === 'encrypted')
    .map((side) => {
      const s = v[side];
      return {
        name: `${v.id} ${side}`,
        s,
        encrypted: read(s.files.encrypted!),
        signed: read(s.files.signed!),
        xmlrpc: read(s.files.xmlrpc),
      };
    }),
);

/** Replaces every base64 value so two envelopes can be compared for layout alone. */
const skeleton = (doc: Buffer) => doc.toString('latin1').replace(/<CipherValue>[^<]*<\/CipherValue>/g, '<CipherValue>X</CipherValue>');

describe('Moodle test vectors', () => {
  it('has the 18 signed+encrypted messages of vectors 03..11', () => {
    expect(cases).toHaveLength(18);
  });

  describe.each(cases)('$name', ({ s, encrypted, signed, xmlrpc }) => {
    const rightKey = decryptionKeys.get(s.decrypt_with_key!)!;
    const wrongKeys = KEY_FILES.filter((f) => f !== s.decrypt_with_key).map((f) => decryptionKeys.get(f)!);

    it('reads the encrypted envelope', async () => {
      const msg = readEncryptedMessage(parseXml(encrypted, FaultCode.NotXml));
      expect(msg.wwwroot).toBe(s.outer_wwwroot);
      expect(msg.encryptedKey.length).toBe(256);
      expect(msg.data.length).toBe(signed.length); // RC4: ciphertext length = plaintext length
      expect((await rsaDecryptPkcs1Implicit(rightKey.privateKey, msg.encryptedKey, rightKey.rejectionSecret)).length).toBe(16);
    });

    it('decrypts with the listed key to exactly the signed envelope', async () => {
      const msg = readEncryptedMessage(parseXml(encrypted, FaultCode.NotXml));
      const only = await decryptEnvelope(msg, [rightKey]);
      expect(only?.keyIndex).toBe(0);
      expect(only?.plaintext.equals(signed)).toBe(true);
      // A padding failure with the wrong key must not end the search.
      const second = await decryptEnvelope(msg, [wrongKeys[0]!, rightKey]);
      expect(second?.keyIndex).toBe(1);
      expect(second?.plaintext.equals(signed)).toBe(true);
      expect((await decryptEnvelope(msg, [wrongKeys[0]!, wrongKeys[1]!, rightKey]))?.keyIndex).toBe(2);
      expect(await decryptEnvelope(msg, wrongKeys)).toBeNull();
      expect(await decryptEnvelope(msg, [])).toBeNull();
    });

    it('reads the signed envelope: payload, digest, wwwroot, timestamp', () => {
      const msg = readSignedMessage(parseXml(signed, FaultCode.DecryptedNotXml));
      expect(msg.payload.equals(xmlrpc)).toBe(true);
      expect(msg.digestHex).toBe(crypto.createHash('sha1').update(xmlrpc).digest('hex'));
      expect(msg.wwwroot).toBe(s.inner_wwwroot);
      expect(msg.timestamp).toBe(s.timestamp);
      expect(msg.signature.length).toBe(256);
    });

    it('verifies with signed_by_cert and with no other certificate', () => {
      const msg = readSignedMessage(parseXml(signed, FaultCode.DecryptedNotXml));
      for (const cert of CERT_FILES) expect(verifySignedMessage(msg, publicKey(cert))).toBe(cert === s.signed_by_cert);
    });

    it('is reproduced byte for byte by buildSignedMessage (PKCS#1 v1.5 signatures are deterministic)', () => {
      const root = parseXml(signed, FaultCode.DecryptedNotXml);
      const msg = readSignedMessage(root);
      const retrieval = childNamed(childNamed(childNamed(root, 'Signature')!, 'KeyInfo')!, 'RetrievalMethod')!;
      const ours = signedMessageWithKey({
        payload: msg.payload,
        wwwroot: msg.wwwroot,
        timestamp: msg.timestamp,
        privateKey: decryptionKeys.get(keyFileOfCert(s.signed_by_cert!))!.privateKey,
        publicKeyUrl: retrieval.attrs.URI!,
      });
      expect(ours.toString('latin1')).toBe(signed.toString('latin1'));
    });

    it('has the same layout as our encrypted envelope, and both pass the 100-byte checks', async () => {
      const ours = buildEncryptedMessage({ plaintext: signed, wwwroot: s.outer_wwwroot!, recipientKey: publicKey(s.encrypted_to_cert!) });
      expect(skeleton(ours)).toBe(skeleton(encrypted));
      for (const doc of [ours, encrypted]) {
        const at = doc.indexOf('<encryptedMessage>');
        expect(at).toBeGreaterThan(0);
        expect(at).toBeLessThan(100);
      }
      const at = signed.indexOf('<signedMessage>');
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(100);
      const back = await decryptEnvelope(readEncryptedMessage(parseXml(ours, FaultCode.NotXml)), [...wrongKeys, rightKey]);
      expect(back?.keyIndex).toBe(2);
      expect(back?.plaintext.equals(signed)).toBe(true);
    });
  });

  describe('10-fault-7025-old-key', () => {
    const v = vectors.find((x) => x.id === '10-fault-7025-old-key')!;
    const current = decryptionKeys.get('keys/moodle.key.pem')!;
    const old = decryptionKeys.get('keys/moodle-old.key.pem')!;

    it('the request was encrypted to the old key: current first, history second gives keyIndex 1', async () => {
      const msg = readEncryptedMessage(parseXml(read(v.request.files.encrypted!), FaultCode.NotXml));
      const result = await decryptEnvelope(msg, [current, old]);
      expect(result?.keyIndex).toBe(1);
      expect(result?.plaintext.equals(read(v.request.files.signed!))).toBe(true);
    });

    it('the 7025 fault is signed with the OLD key', () => {
      const msg = readSignedMessage(parseXml(read(v.response.files.signed!), FaultCode.DecryptedNotXml));
      expect(v.response.signed_by_cert).toBe('keys/moodle-old.cert.pem');
      expect(verifySignedMessage(msg, publicKey('keys/moodle-old.cert.pem'))).toBe(true);
      expect(verifySignedMessage(msg, publicKey('keys/moodle.cert.pem'))).toBe(false);
      expect(msg.payload.toString('utf8')).toContain('<int>7025</int>');
    });
  });
});
