/**
 * Our MNet key pair and certificate, and the checks on certificates peers send us (mnet-protocol.md §5).
 *
 * Split of work: node:crypto does the RSA (key generation, signing, fingerprints, key size) because it is
 * OpenSSL and fast; node-forge only builds the TBSCertificate and reads subject attributes, because
 * Node 20 has no API for either (X509Certificate.subject is display text, ambiguous with odd values).
 */
import * as crypto from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { FaultCode, MnetFault } from '../errors.js';
import { trimWwwroot } from './wwwroot.js';

/** Our subject fields (§5.1); OU is always 'Mahara' and CN is derived from the wwwroot. */
export interface CertificateSubject { country: string; province: string; locality: string; organisation: string; email: string }

export interface GeneratedKeyPair { certificatePem: string; privateKeyPem: string; notBefore: Date; expires: Date }

export interface ParsedCertificate {
  /** Canonical PEM (§5.1), the form to store and to compare. */
  pem: string;
  commonName: string;
  /** The subject *attribute* with OID 2.5.29.17 that Moodle puts in the DN (§5.1), not the extension. */
  subjectAltName: string | null;
  notBefore: Date;
  validTo: Date;
  publicKey: crypto.KeyObject;
  keyBits: number;
  /** Colon-separated upper-case hex pairs of the DER, as Mahara shows them (§5.3). */
  sha1Fingerprint: string;
  md5Fingerprint: string;
}

const OID = {
  country: '2.5.4.6',
  province: '2.5.4.8',
  locality: '2.5.4.7',
  organisation: '2.5.4.10',
  unit: '2.5.4.11',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  email: '1.2.840.113549.1.9.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

const generateRsa = promisify(crypto.generateKeyPair);
// getTBSCertificate is public in node-forge but missing from @types/node-forge.
const forgePki = forge.pki as typeof forge.pki & { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 };

function refuse(message: string, cause?: unknown): MnetFault {
  return new MnetFault(FaultCode.InvalidCertificate, message, cause === undefined ? {} : { cause });
}

const badInput = (message: string) => new MnetFault(FaultCode.InvalidInput, message);

/** Cut to 64 characters like PHP's substr(…, 0, 64) in both products (§5.1); wwwroots are ASCII, so
 *  characters and bytes agree. Code points, so we never split a surrogate pair. */
function cut64(s: string): string {
  return Array.from(s).slice(0, 64).join('');
}

// Moodle's PARAM_PEM pattern: trimmed, one BEGIN/END CERTIFICATE pair around base64 and whitespace (the
// body cannot contain '-', so a second block or a key never matches). Moodle additionally refuses lines
// other than 64 characters; we re-wrap instead, so we never send a form it would refuse (§5.1).
const PEM_RE = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----$/;

function pemToDer(pem: string): Buffer {
  if (typeof pem !== 'string') throw refuse('certificate is not a string');
  const m = PEM_RE.exec(pem.trim());
  if (!m) throw refuse('not a single PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)');
  const b64 = m[1]!.replace(/\s+/g, '');
  // Strict base64: Buffer.from() silently skips junk, and a lenient decode would let two different
  // texts name the same certificate.
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw refuse('certificate body is not valid base64');
  const der = Buffer.from(b64, 'base64');
  if (der.toString('base64') !== b64) throw refuse('certificate body is not canonical base64');
  return der;
}

/** §5.1: OpenSSL's PEM text, LF only, 64-character lines, one trailing LF (Moodle compares against it). */
function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function x509FromDer(der: Buffer): crypto.X509Certificate {
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(der);
  } catch (err) {
    // OpenSSL's own text ("PEM routines::no start line" for bad DER) would mislead; it stays in `cause`.
    throw refuse('certificate body is not a valid DER X.509 certificate', err);
  }
  // OpenSSL ignores bytes after the certificate; refuse them so the canonical PEM is the input's bytes.
  if (!x.raw.equals(der)) throw refuse('unexpected data after the certificate');
  return x;
}

/** OpenSSL's canonical PEM of a single certificate; tolerant of CRLF, other wrapping and surrounding whitespace. */
export function canonicalCertificatePem(pem: string): string {
  return derToPem(x509FromDer(pemToDer(pem)).raw);
}

function fingerprint(algorithm: 'sha1' | 'md5', der: Buffer): string {
  return crypto.createHash(algorithm).update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/** Decodes a DN attribute value to text the way PHP's openssl_x509_parse does (ASN1_STRING_to_UTF8). */
function attributeText(attr: forge.pki.CertificateField): string {
  const raw = attr.value;
  if (typeof raw !== 'string') throw refuse(`subject attribute ${attr.type} is not a string`);
  const bytes = Buffer.from(raw, 'binary'); // forge keeps values as undecoded byte strings
  const tag = attr.valueTagClass as number | undefined; // mistyped as asn1.Class in @types/node-forge
  try {
    if (tag === forge.asn1.Type.UTF8) return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (tag === forge.asn1.Type.BMPSTRING) return Buffer.from(bytes).swap16().toString('utf16le');
  } catch (err) {
    throw refuse(`subject attribute ${attr.type} is not valid text`, err);
  }
  return bytes.toString('latin1'); // PrintableString, IA5String, T61String
}

function singleAttribute(attrs: forge.pki.CertificateField[], oid: string, label: string): string | null {
  const found = attrs.filter((a) => a.type === oid);
  // PHP turns a repeated attribute into an array, which then never equals a wwwroot: refuse up front.
  if (found.length > 1) throw refuse(`certificate subject has ${found.length} ${label} attributes`);
  return found[0] === undefined ? null : attributeText(found[0]);
}

/** Parses a PEM certificate; any failure is MnetFault(InvalidCertificate) with a readable message. */
export function parseCertificate(pem: string): ParsedCertificate {
  const der = pemToDer(pem);
  const x = x509FromDer(der);
  const publicKey = x.publicKey;
  // §4.1/§3.2: peers seal to us and sign with RSA PKCS#1 v1.5, so any other key type is useless.
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw refuse(`certificate key type is ${publicKey.asymmetricKeyType ?? 'unknown'}, not RSA`);
  }
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(der.toString('binary')));
  } catch (err) {
    throw refuse(`certificate does not parse: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const attrs = cert.subject.attributes;
  const commonName = singleAttribute(attrs, OID.commonName, 'CN');
  if (commonName === null) throw refuse('certificate subject has no CN');
  return {
    pem: derToPem(der),
    commonName,
    subjectAltName: singleAttribute(attrs, OID.subjectAltName, 'subjectAltName'),
    notBefore: cert.validity.notBefore,
    validTo: cert.validity.notAfter,
    publicKey,
    keyBits: publicKey.asymmetricKeyDetails?.modulusLength ?? 0,
    sha1Fingerprint: fingerprint('sha1', der),
    md5Fingerprint: fingerprint('md5', der),
  };
}

/**
 * §5.3 acceptance rule (checklist 36, 37): parses; RSA ≥ 1024 bits; CN equals the wwwroot without
 * trailing slash cut to 64; the Moodle subjectAltName attribute, when present, equals the full wwwroot.
 * Exact comparison on purpose: Mahara's "CN occurs inside the wwwroot" would accept http://a.test for
 * http://a.test.evil.example. Expiry is not checked: neither PHP product refuses expired peer keys (§5.3).
 */
export function parsePeerCertificate(pem: string, wwwroot: string): ParsedCertificate {
  const cert = parseCertificate(pem);
  if (cert.keyBits < 1024) throw refuse(`certificate key has ${cert.keyBits} bits; at least 1024 are required`);
  const root = trimWwwroot(wwwroot);
  const expectedCn = cut64(root);
  if (cert.commonName !== expectedCn) {
    throw refuse(`certificate CN "${cert.commonName}" does not match wwwroot "${expectedCn}"`);
  }
  if (cert.subjectAltName !== null && cert.subjectAltName !== root) {
    throw refuse(`certificate subjectAltName "${cert.subjectAltName}" does not match wwwroot "${root}"`);
  }
  return cert;
}

/**
 * Generates our key pair (§5.1, checklist 26, 27). The RSA key comes from OpenSSL (forge's JS keygen takes
 * seconds); forge lays out the certificate, and OpenSSL signs the TBS bytes (faster than forge's JS RSA,
 * and not a non-constant-time private-key operation in JS).
 */
export async function generateKeyPair(o: {
  wwwroot: string;
  subject: CertificateSubject;
  days: number;
  bits?: number;
  now: Date;
}): Promise<GeneratedKeyPair> {
  const bits = o.bits ?? 2048;
  // §5.1: we MUST generate RSA-2048 and MAY go larger.
  if (!Number.isInteger(bits) || bits < 2048 || bits > 16384) throw badInput(`RSA key size ${bits} is not allowed (2048 or more)`);
  if (!Number.isInteger(o.days) || o.days < 1) throw badInput(`certificate lifetime ${o.days} is not a whole number of days ≥ 1`);
  if (Number.isNaN(o.now.getTime())) throw badInput('invalid "now"');
  const root = trimWwwroot(o.wwwroot);
  if (root === '') throw badInput('wwwroot is empty');
  const s = o.subject;
  // X.520 countryName is exactly two letters; OpenSSL (and so PHP) refuses anything else.
  if (!/^[A-Za-z]{2}$/.test(s.country)) throw badInput(`country "${s.country}" is not a two-letter code`);
  if (!/^[\x20-\x7e]*$/.test(s.email)) throw badInput('email address must be ASCII (IA5String)');

  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: bits, publicExponent: 0x10001 });

  // X.509 times have whole seconds; truncate first so the returned dates equal the certificate's.
  const notBefore = new Date(Math.floor(o.now.getTime() / 1000) * 1000);
  const expires = new Date(notBefore.getTime() + o.days * 86_400_000);

  const { UTF8, PRINTABLESTRING, IA5STRING } = forge.asn1.Type;
  // Order and string types as OpenSSL/PHP write them (fixture certificates): C PrintableString,
  // emailAddress IA5String, the rest UTF8String. O is cut to 64 (ub-organization-name), as Moodle does.
  // Empty optional fields are left out rather than written as empty strings. No subjectAltName
  // attribute: Mahara does not add one (§5.1).
  const fields: Array<[string, string, number]> = [
    [OID.country, s.country.toUpperCase(), PRINTABLESTRING],
    [OID.province, s.province, UTF8],
    [OID.locality, s.locality, UTF8],
    [OID.organisation, cut64(s.organisation), UTF8],
    [OID.unit, 'Mahara', UTF8],
    [OID.commonName, cut64(root), UTF8],
    [OID.email, s.email, IA5STRING],
  ];
  const attrs: forge.pki.CertificateField[] = fields
    .filter(([, value]) => value !== '')
    .map(([type, value, valueTagClass]) => ({ type, value, valueTagClass: valueTagClass as forge.asn1.Class }));

  const cert = forge.pki.createCertificate();
  cert.version = 2; // v3
  cert.serialNumber = '00'; // §5.1: serial 0, like PHP's openssl_csr_sign(…, 0)
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = expires;
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.setSubject(attrs);
  cert.setIssuer(attrs); // self-signed
  // The OpenSSL CA profile (§5.1). SKI/AKI need cert.publicKey, set above.
  cert.setExtensions([
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: true },
    { name: 'basicConstraints', cA: true, critical: true },
  ]);
  cert.siginfo.algorithmOid = OID.sha256WithRsa; // inside the TBS
  cert.signatureOid = OID.sha256WithRsa; // outer AlgorithmIdentifier
  cert.tbsCertificate = forgePki.getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = crypto.sign('sha256', tbs, privateKey).toString('binary');
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');

  return {
    certificatePem: derToPem(der), // our writer, not forge's CRLF one (§5.1)
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, // §5.1 storage: unencrypted PKCS#8
    notBefore,
    expires,
  };
}
