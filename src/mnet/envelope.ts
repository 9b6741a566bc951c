import crypto from 'node:crypto';
import { FaultCode, MnetFault } from '../errors.js';
import { rc4 } from './rc4.js';
import { rsaDecryptPkcs1Implicit, rsaEncryptPkcs1 } from './rsa.js';
import { trimWwwroot } from './wwwroot.js';
import { childNamed, escapeXml, type XmlElement } from './xml.js';

/**
 * MNet's two envelopes (mnet-protocol.md §3 signed, §4 encrypted): building them byte-compatible with
 * Moodle's own, and reading them leniently. Protocol only: no HTTP, no peer registry, no clock.
 */

/** The declaration both PHP peers write (§3.1); the content is ASCII only, so the encoding is moot. */
const DECLARATION = '<?xml version="1.0" encoding="iso-8859-1"?>';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const XMLENC_NS = 'http://www.w3.org/2001/04/xmlenc#';

/**
 * Joins `[depth, text]` lines the way Moodle's envelopes are laid out (§3.1): LF, 4 spaces per level
 * starting at the root (so `<signedMessage>` lands at byte 48, inside the first 100 bytes and not at 0 as
 * Moodle's client requires, §1.3), and no LF after the last end tag.
 */
function layout(lines: ReadonlyArray<readonly [number, string]>): Buffer {
  const text = [DECLARATION, ...lines.map(([depth, line]) => '    '.repeat(depth) + line)].join('\n');
  return Buffer.from(text, 'latin1');
}

/** Escapes text and writes anything beyond ASCII as a character reference, keeping the document ASCII. */
function xmlText(text: string): string {
  return escapeXml(text).replace(/[^\x00-\x7f]/gu, (c) => `&#${c.codePointAt(0)};`);
}

/**
 * Lenient base64 like PHP's `base64_decode` (§3.2, §11, checklist item 15): all whitespace is ignored (text
 * may be wrapped or split across parser chunks) and `=` padding may be missing. Characters outside the
 * standard alphabet are refused with `faultCode` rather than silently skipped; no peer writes them.
 */
export function decodeBase64Lenient(text: string, faultCode: number, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw new MnetFault(faultCode, `${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

// ---------------------------------------------------------------------------------------------------
// Signed envelope (§3)

export interface SignedMessage {
  /** The exact XML-RPC bytes that were signed (decoded `object`); parse these, never a re-serialisation. */
  payload: Buffer;
  signature: Buffer;
  /** `DigestValue` as written by the sender ('' if absent). Informational: nobody checks it (§3.2). */
  digestHex: string;
  /** The sender's wwwroot as written (surrounding whitespace removed). */
  wwwroot: string;
  /** Sender's clock at signing, Unix seconds. */
  timestamp: number;
}

/**
 * RSASSA-PKCS1-v1_5/SHA-1 over the exact payload bytes (§3.2). Asynchronous on purpose: OpenSSL does it on
 * libuv's thread pool, so a server answering many calls signs on another core while the main thread
 * parses the next request (bench/mnet-calls.ts: about 20% more calls per second).
 */
export function signPayload(payload: Buffer, privateKey: crypto.KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    crypto.sign('sha1', payload, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, (err, signature) =>
      err ? reject(err) : resolve(signature),
    ),
  );
}

/**
 * Wraps a signed XML-RPC document (§3.1, §3.2): `DigestValue` = lowercase hex SHA-1 of the payload, base64
 * on one line, `signature` from signPayload. PKCS#1 v1.5 signatures are deterministic, so with Moodle's
 * key and inputs this reproduces Moodle's envelope byte for byte.
 */
export function buildSignedMessage(o: {
  payload: Buffer;
  signature: Buffer;
  wwwroot: string;
  timestamp: number;
  publicKeyUrl: string;
}): Buffer {
  if (!Number.isSafeInteger(o.timestamp) || o.timestamp < 0) {
    throw new MnetFault(FaultCode.Internal, `Invalid envelope timestamp ${o.timestamp}`);
  }
  const signature = o.signature;
  const digestHex = crypto.createHash('sha1').update(o.payload).digest('hex');
  return layout([
    [1, '<signedMessage>'],
    [2, `<Signature Id="MoodleSignature" xmlns="${DSIG_NS}">`],
    [3, '<SignedInfo>'],
    [4, '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'],
    [4, `<SignatureMethod Algorithm="${DSIG_NS}rsa-sha1"/>`],
    [4, '<Reference URI="#XMLRPC-MSG">'],
    [5, `<DigestMethod Algorithm="${DSIG_NS}sha1"/>`],
    [5, `<DigestValue>${digestHex}</DigestValue>`],
    [4, '</Reference>'],
    [3, '</SignedInfo>'],
    [3, `<SignatureValue>${signature.toString('base64')}</SignatureValue>`],
    [3, '<KeyInfo>'],
    [4, `<RetrievalMethod URI="${xmlText(o.publicKeyUrl)}"/>`],
    [3, '</KeyInfo>'],
    [2, '</Signature>'],
    [2, `<object ID="XMLRPC-MSG">${o.payload.toString('base64')}</object>`],
    [2, `<wwwroot>${xmlText(trimWwwroot(o.wwwroot))}</wwwroot>`],
    [2, `<timestamp>${o.timestamp}</timestamp>`],
    [1, '</signedMessage>'],
  ]);
}

/**
 * Reads a parsed `signedMessage` document (§3.1). Wrong root → 6009 (checklist item 4). A missing or
 * empty `SignatureValue` / `object` / `wwwroot`, bad base64 or a timestamp that is not a decimal integer
 * → 6004: the message cannot be authenticated. `DigestValue` is read but never required (§3.2).
 */
export function readSignedMessage(root: XmlElement): SignedMessage {
  if (root.name !== 'signedMessage') {
    throw new MnetFault(FaultCode.UnknownRoot, `Unrecognised XML document root: ${root.name}`);
  }
  const bad = (what: string) => new MnetFault(FaultCode.BadSignature, `Signed message: ${what}`);

  const signatureEl = childNamed(root, 'Signature');
  const signatureText = signatureEl && childNamed(signatureEl, 'SignatureValue')?.text;
  if (!signatureText?.trim()) throw bad('no SignatureValue');
  const objectText = childNamed(root, 'object')?.text;
  if (!objectText?.trim()) throw bad('no object');
  const wwwroot = childNamed(root, 'wwwroot')?.text.trim();
  if (!wwwroot) throw bad('no wwwroot');
  const timestamp = parseEnvelopeTimestamp(childNamed(root, 'timestamp')?.text ?? '');
  if (timestamp === undefined) throw bad('missing or malformed timestamp');

  const signedInfo = signatureEl && childNamed(signatureEl, 'SignedInfo');
  const reference = signedInfo && childNamed(signedInfo, 'Reference');
  const digestHex = (reference && childNamed(reference, 'DigestValue')?.text.trim()) ?? '';

  return {
    payload: decodeBase64Lenient(objectText, FaultCode.BadSignature, 'object'),
    signature: decodeBase64Lenient(signatureText, FaultCode.BadSignature, 'SignatureValue'),
    digestHex,
    wwwroot,
    timestamp,
  };
}

/** A signed envelope's `timestamp` (§3.1): decimal Unix seconds, surrounding whitespace allowed. */
export function parseEnvelopeTimestamp(text: string): number | undefined {
  const match = /^\s*(\d{1,15})\s*$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * RSASSA-PKCS1-v1_5 with SHA-1 over the payload bytes (§3.2). `DigestValue` is deliberately not compared:
 * neither PHP peer checks it, and a wrong digest with a valid signature must still pass (checklist 14).
 * Only RSA keys can verify, so an odd certificate cannot turn this into another signature scheme.
 */
export function verifySignedMessage(msg: SignedMessage, publicKey: crypto.KeyObject): boolean {
  if (publicKey.asymmetricKeyType !== 'rsa') return false;
  return crypto.verify(
    'sha1',
    msg.payload,
    { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING },
    msg.signature,
  );
}

/**
 * Some OpenSSL policies (RHEL 9's DEFAULT, for one) forbid SHA-1 signatures, and MNet has no other
 * algorithm (§11): find out at start-up with our own key rather than failing every request later.
 */
export function assertSha1SignaturesWork(privateKey: crypto.KeyObject, publicKey: crypto.KeyObject): void {
  const probe = Buffer.from('MNet SHA-1 self-test');
  let ok = false;
  try {
    ok = crypto.verify('sha1', probe, publicKey, crypto.sign('sha1', probe, privateKey));
  } catch (err) {
    throw new MnetFault(
      FaultCode.InvalidConfiguration,
      `This system's OpenSSL refuses RSA-SHA1 signatures, which MNet requires (${err instanceof Error ? err.message : err}); ` +
        'allow SHA-1 signatures in the crypto policy (e.g. update-crypto-policies --set DEFAULT:SHA1)',
      { cause: err },
    );
  }
  if (!ok) throw new MnetFault(FaultCode.InvalidConfiguration, 'RSA-SHA1 self-test failed: our key pair does not verify');
}

// ---------------------------------------------------------------------------------------------------
// Encrypted envelope (§4)

export interface EncryptedMessage {
  /** RC4 ciphertext of the signedMessage document. */
  data: Buffer;
  /** The RC4 key, RSA PKCS#1 v1.5-encrypted to the recipient. */
  encryptedKey: Buffer;
  /** The sender's wwwroot as written on the outer envelope (surrounding whitespace removed). */
  wwwroot: string;
}

/**
 * Encrypts a signedMessage document the way PHP's `openssl_seal(..., 'RC4')` does (§4.1): a fresh random
 * 16-byte RC4 key per message, no IV, the key wrapped with RSAES-PKCS1-v1_5. `EncryptedData` comes before
 * `EncryptedKey` because Moodle takes the *last* CipherValue as the key (§1.3). No Mahara `X1` filler.
 */
export function buildEncryptedMessage(o: { plaintext: Buffer; wwwroot: string; recipientKey: crypto.KeyObject }): Buffer {
  const rc4Key = crypto.randomBytes(16);
  const data = rc4(rc4Key, o.plaintext);
  const encryptedKey = rsaEncryptPkcs1(o.recipientKey, rc4Key);
  return layout([
    [1, '<encryptedMessage>'],
    [2, `<EncryptedData Id="ED" xmlns="${XMLENC_NS}">`],
    [3, `<EncryptionMethod Algorithm="${XMLENC_NS}arcfour"/>`],
    [3, `<ds:KeyInfo xmlns:ds="${DSIG_NS}">`],
    [4, `<ds:RetrievalMethod URI="#EK" Type="${XMLENC_NS}EncryptedKey"/>`],
    [4, '<ds:KeyName>XMLENC</ds:KeyName>'],
    [3, '</ds:KeyInfo>'],
    [3, '<CipherData>'],
    [4, `<CipherValue>${data.toString('base64')}</CipherValue>`],
    [3, '</CipherData>'],
    [2, '</EncryptedData>'],
    [2, `<EncryptedKey Id="EK" xmlns="${XMLENC_NS}">`],
    [3, `<EncryptionMethod Algorithm="${XMLENC_NS}rsa-1_5"/>`],
    [3, `<ds:KeyInfo xmlns:ds="${DSIG_NS}">`],
    [4, '<ds:KeyName>SSLKEY</ds:KeyName>'],
    [3, '</ds:KeyInfo>'],
    [3, '<CipherData>'],
    [4, `<CipherValue>${encryptedKey.toString('base64')}</CipherValue>`],
    [3, '</CipherData>'],
    [3, '<ReferenceList>'],
    [4, '<DataReference URI="#ED"/>'],
    [3, '</ReferenceList>'],
    [3, '<CarriedKeyName>XMLENC</CarriedKeyName>'],
    [2, '</EncryptedKey>'],
    [2, `<wwwroot>${xmlText(trimWwwroot(o.wwwroot))}</wwwroot>`],
    [1, '</encryptedMessage>'],
  ]);
}

/**
 * Reads a parsed `encryptedMessage` document (§4.2): the data is the CipherValue under `EncryptedData`,
 * the key the one under `EncryptedKey` (by path, as Mahara does; the Algorithm attributes are ignored).
 * Wrong root → 6009. A missing or undecodable CipherValue → 7023, the same plain fault as "no key opens
 * it" (§4.3 step 3). A missing outer wwwroot → 6004, the code for an outer wwwroot that does not match the
 * signed one (§3.3 step 5).
 */
export function readEncryptedMessage(root: XmlElement): EncryptedMessage {
  if (root.name !== 'encryptedMessage') {
    throw new MnetFault(FaultCode.UnknownRoot, `Unrecognised XML document root: ${root.name}`);
  }
  const cipherValue = (parentName: string): Buffer => {
    const parent = childNamed(root, parentName);
    const cipherData = parent && childNamed(parent, 'CipherData');
    const text = cipherData && childNamed(cipherData, 'CipherValue')?.text;
    if (!text?.trim()) throw new MnetFault(FaultCode.CannotDecrypt, `Encrypted message: no ${parentName} CipherValue`);
    return decodeBase64Lenient(text, FaultCode.CannotDecrypt, `${parentName} CipherValue`);
  };
  const data = cipherValue('EncryptedData');
  const encryptedKey = cipherValue('EncryptedKey');
  const wwwroot = childNamed(root, 'wwwroot')?.text.trim();
  if (!wwwroot) throw new MnetFault(FaultCode.BadSignature, 'Encrypted message: no wwwroot');
  return { data, encryptedKey, wwwroot };
}

export interface DecryptionKey {
  privateKey: crypto.KeyObject;
  /** deriveRejectionSecret(privateKey), computed once per key. */
  rejectionSecret: Buffer;
}

/** How many plaintext bytes to decrypt when testing a candidate key; the root tag sits at byte 48. */
export const ENVELOPE_KEY_PROBE_BYTES = 256;
/**
 * Optional BOM, whitespace and XML declaration, then a signedMessage start tag (§1.3) — or a methodCall,
 * so an encrypted but unsigned request is opened and refused with 6005 (§4.3 step 4) rather than
 * mistaken for one we cannot decrypt. Either tag is long enough that pseudo-random RC4 output from a
 * wrong key never matches.
 */
const PLAINTEXT_START = /^(?:\xef\xbb\xbf)?[ \t\r\n]*(?:<\?xml[^>]*\?>[ \t\r\n]*)?<(?:signedMessage|methodCall)[ \t\r\n>]/;

/**
 * Finds which of our keys opens an envelope (§4.3): current key first, then the history, newest first;
 * the caller decides what a match on an old key means (7025 on a server, nothing on a client). With
 * implicit rejection a bad padding yields a pseudo-random RC4 key instead of an error, so a key "fits"
 * only if its RC4 output starts like a signedMessage (or methodCall) document; a padding failure therefore
 * never ends the loop early and costs the same as a wrong key. Needs only the first
 * ENVELOPE_KEY_PROBE_BYTES of the ciphertext, so a streaming reader can call it before decrypting the
 * rest. Returns null when no key fits (→ 7023).
 */
export async function findEnvelopeKey(
  encryptedKey: Buffer,
  dataPrefix: Buffer,
  keys: readonly DecryptionKey[],
): Promise<{ rc4Key: Buffer; keyIndex: number } | null> {
  const prefix = dataPrefix.subarray(0, ENVELOPE_KEY_PROBE_BYTES);
  for (let keyIndex = 0; keyIndex < keys.length; keyIndex++) {
    const { privateKey, rejectionSecret } = keys[keyIndex]!;
    const rc4Key = await rsaDecryptPkcs1Implicit(privateKey, encryptedKey, rejectionSecret);
    if (PLAINTEXT_START.test(rc4(rc4Key, prefix).toString('latin1'))) return { rc4Key, keyIndex };
  }
  return null;
}

/** Opens an encrypted envelope with the first fitting key (findEnvelopeKey); null when none fits (→ 7023). */
export async function decryptEnvelope(
  msg: EncryptedMessage,
  keys: readonly DecryptionKey[],
): Promise<{ plaintext: Buffer; keyIndex: number } | null> {
  const found = await findEnvelopeKey(msg.encryptedKey, msg.data, keys);
  return found && { plaintext: rc4(found.rc4Key, msg.data), keyIndex: found.keyIndex };
}
