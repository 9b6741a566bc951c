import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { FaultCode } from '../../../src/errors.js';
import {
  canonicalCertificatePem,
  generateKeyPair,
  parseCertificate,
  parsePeerCertificate,
  type GeneratedKeyPair,
} from '../../../src/mnet/certificate.js';
import { faultCodeOf } from '../../helpers/faults.js';

const keysDir = fileURLToPath(new URL('../../fixtures/mnet/keys/', import.meta.url));
const moodleKeyFile = `${keysDir}moodle.key.pem`;
const fixture = (name: string) => readFileSync(`${keysDir}${name}`, 'utf8');

/** Expected values computed once with `openssl x509 -noout -enddate -startdate -fingerprint -sha1|-md5`. */
const vectors = [
  {
    file: 'moodle.cert.pem',
    wwwroot: 'http://moodle.test',
    notBefore: '2026-11-22T10:45:53.000Z', // notBefore=Nov 22 10:45:53 2026 GMT
    validTo: '2036-11-19T10:45:53.000Z', // notAfter=Nov 19 10:45:53 2036 GMT
    sha1: '16:BF:4C:7E:3C:30:CD:5F:CB:FE:53:86:EF:0D:C6:C5:64:54:63:B7',
    md5: '72:F5:06:BF:B3:E1:4E:4F:C5:AE:33:4D:9D:FE:E8:89',
  },
  {
    file: 'mahara.cert.pem',
    wwwroot: 'http://mahara.test',
    notBefore: '2026-11-22T10:45:54.000Z',
    validTo: '2036-11-19T10:45:54.000Z', // notAfter=Nov 19 10:45:54 2036 GMT
    sha1: '0C:B2:94:65:77:72:42:5C:E0:39:18:D1:3C:C9:CB:49:86:21:9C:25',
    md5: '75:E3:C6:1A:24:FA:D7:8E:78:A5:ED:F0:11:B2:DD:49',
  },
];

/** A self-signed certificate made by the openssl CLI (as PHP would), `-subj` syntax with `\/` for '/'. */
function opensslCert(subj: string, keyArgs: string[] = ['-key', moodleKeyFile]): string {
  return execFileSync('openssl', ['req', '-x509', '-new', ...keyArgs, '-subj', subj, '-days', '1', '-sha256'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}
const esc = (s: string) => s.replace(/\//g, '\\/');

describe('Moodle-made certificates (checklist 37)', () => {
  it.each(vectors)('$file parses like openssl reads it', (v) => {
    const pem = fixture(v.file);
    const c = parseCertificate(pem);
    expect(c.commonName).toBe(v.wwwroot);
    expect(c.subjectAltName).toBe(v.wwwroot);
    expect(c.notBefore.toISOString()).toBe(v.notBefore);
    expect(c.validTo.toISOString()).toBe(v.validTo);
    expect(c.sha1Fingerprint).toBe(v.sha1);
    expect(c.md5Fingerprint).toBe(v.md5);
    expect(c.keyBits).toBe(2048);
    expect(c.publicKey.asymmetricKeyType).toBe('rsa');
    expect(c.pem).toBe(pem); // Moodle's PEM is already canonical
  });

  it.each(vectors)('$file passes parsePeerCertificate for its wwwroot (with or without trailing slash)', (v) => {
    expect(parsePeerCertificate(fixture(v.file), v.wwwroot).commonName).toBe(v.wwwroot);
    expect(parsePeerCertificate(fixture(v.file), `${v.wwwroot}/`).commonName).toBe(v.wwwroot);
  });

  it('fails parsePeerCertificate for another wwwroot (checklist 36)', () => {
    expect(faultCodeOf(() => parsePeerCertificate(fixture('moodle.cert.pem'), 'http://mahara.test'))).toBe(9004);
    expect(faultCodeOf(() => parsePeerCertificate(fixture('moodle.cert.pem'), 'http://moodle.test/sub'))).toBe(9004);
    expect(faultCodeOf(() => parsePeerCertificate(fixture('moodle.cert.pem'), 'https://moodle.test'))).toBe(9004);
  });
});

describe('parsePeerCertificate refusals (§5.3)', () => {
  it('refuses a subjectAltName attribute that differs from the wwwroot while CN matches', () => {
    const pem = opensslCert('/CN=http:\\/\\/moodle.test/subjectAltName=http:\\/\\/evil.test');
    expect(parseCertificate(pem).subjectAltName).toBe('http://evil.test');
    expect(faultCodeOf(() => parsePeerCertificate(pem, 'http://moodle.test'))).toBe(FaultCode.InvalidCertificate);
  });

  it('wants CN cut to 64 but subjectAltName in full', () => {
    const long = `https://portfolio.example.org/${'x'.repeat(70)}`;
    const cn = long.slice(0, 64);
    const good = opensslCert(`/CN=${esc(cn)}/subjectAltName=${esc(long)}`);
    expect(parsePeerCertificate(good, long).subjectAltName).toBe(long);
    const cutSan = opensslCert(`/CN=${esc(cn)}/subjectAltName=${esc(cn)}`);
    expect(faultCodeOf(() => parsePeerCertificate(cutSan, long))).toBe(9004);
    // (A CN longer than 64 cannot be tested this way: OpenSSL refuses it, ub-common-name is 64.)
  });

  it('refuses a repeated CN', () => {
    const pem = opensslCert('/CN=http:\\/\\/moodle.test/CN=http:\\/\\/moodle.test');
    expect(faultCodeOf(() => parsePeerCertificate(pem, 'http://moodle.test'))).toBe(9004);
  });

  it('refuses garbage, an empty string, keys and several certificates', () => {
    const cert = fixture('moodle.cert.pem');
    for (const bad of [
      '',
      '   \n',
      'garbage',
      `-----BEGIN CERTIFICATE-----\n${Buffer.from('not a certificate at all').toString('base64')}\n-----END CERTIFICATE-----\n`,
      `-----BEGIN CERTIFICATE-----\nMIIE*\n-----END CERTIFICATE-----\n`,
      cert.replace('MIIEUjCC', 'MIIEUjCD'), // corrupt DER
      cert.slice(0, 200) + cert.slice(260), // truncated
      cert + cert,
      fixture('moodle.key.pem'),
    ]) {
      expect(faultCodeOf(() => parsePeerCertificate(bad, 'http://moodle.test'))).toBe(9004);
      expect(faultCodeOf(() => canonicalCertificatePem(bad))).toBe(9004);
    }
  });

  it('refuses data after the DER certificate', () => {
    const der = Buffer.concat([new crypto.X509Certificate(fixture('moodle.cert.pem')).raw, Buffer.from([0, 0])]);
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    expect(faultCodeOf(() => parseCertificate(pem))).toBe(9004);
  });

  it('refuses keys that are not RSA or shorter than 1024 bits', () => {
    const tmp = ['-nodes', '-keyout', '/dev/null'];
    const ec = opensslCert('/CN=http:\\/\\/a.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', ...tmp]);
    expect(faultCodeOf(() => parseCertificate(ec))).toBe(9004);
    const small = opensslCert('/CN=http:\\/\\/a.test', ['-newkey', 'rsa:768', ...tmp]);
    expect(parseCertificate(small).keyBits).toBe(768);
    expect(faultCodeOf(() => parsePeerCertificate(small, 'http://a.test'))).toBe(9004);
  });
});

describe('canonicalCertificatePem', () => {
  it('turns a CRLF, 76-column, padded version into the exact canonical string', () => {
    const canonical = fixture('moodle.cert.pem');
    const body = new crypto.X509Certificate(canonical).raw.toString('base64');
    const odd = `\r\n  -----BEGIN CERTIFICATE-----\r\n${body.match(/.{1,76}/g)!.join('\r\n')}\r\n-----END CERTIFICATE-----\r\n\r\n`;
    expect(canonicalCertificatePem(odd)).toBe(canonical);
    expect(canonicalCertificatePem(canonical)).toBe(canonical);
    expect(parseCertificate(odd).pem).toBe(canonical);
  });
});

describe('generateKeyPair (checklist 26, 27)', () => {
  const long = `https://portfolio.example.org/${'m'.repeat(70)}`; // 100 characters
  const now = new Date('2026-03-04T05:06:07.890Z');
  const days = 365;
  let pair: GeneratedKeyPair;

  beforeAll(async () => {
    const t = performance.now();
    pair = await generateKeyPair({
      wwwroot: `${long}/`,
      subject: { country: 'nz', province: 'Wellington', locality: 'Te Aro', organisation: 'Zoë’s Mahara', email: 'noreply@mahara.test' },
      days,
      now,
    });
    console.info(`generateKeyPair(2048) took ${(performance.now() - t).toFixed(0)} ms`);
  });

  it('builds a v3, serial 00, self-signed CA certificate with the §5.1 subject', () => {
    expect(long).toHaveLength(100);
    const x = new crypto.X509Certificate(pair.certificatePem);
    expect(x.serialNumber).toBe('0'); // Node prints the shortest hex; openssl prints 00 (below)
    expect(forge.pki.certificateFromPem(pair.certificatePem).serialNumber).toBe('00'); // INTEGER 0
    expect(x.ca).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    const f = forge.pki.certificateFromPem(pair.certificatePem);
    expect(f.version).toBe(2); // v3
    expect(f.subject.getField('OU').value).toBe('Mahara');
    expect(f.subject.getField('CN').value).toBe(long.slice(0, 64));
    expect(f.subject.getField('C').value).toBe('NZ');
    expect(f.subject.attributes.some((a) => a.type === '2.5.29.17')).toBe(false);
    const ski = f.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string } | null;
    expect(ski).not.toBeNull();
    expect(f.getExtension('authorityKeyIdentifier')).not.toBeNull();
    expect(f.getExtension('basicConstraints')).toMatchObject({ cA: true, critical: true });
    expect(f.signatureOid).toBe(forge.pki.oids['sha256WithRSAEncryption']);
  });

  it('parses back: CN cut to 64, no subjectAltName, validity exactly `days`, 2048 bits', () => {
    const c = parsePeerCertificate(pair.certificatePem, long);
    expect(c.commonName).toBe(long.slice(0, 64));
    expect(c.subjectAltName).toBeNull();
    expect(c.keyBits).toBe(2048);
    expect(c.notBefore.toISOString()).toBe('2026-03-04T05:06:07.000Z');
    expect(c.validTo.getTime() - c.notBefore.getTime()).toBe(days * 86_400_000);
    expect(pair.notBefore).toEqual(c.notBefore);
    expect(pair.expires).toEqual(c.validTo);
    // Only the first 64 characters are in the certificate: a wwwroot differing after them still matches.
    expect(parsePeerCertificate(pair.certificatePem, `${long.slice(0, 64)}other`).commonName).toBe(c.commonName);
  });

  it('writes canonical PEM: LF only, 64-character lines, one trailing LF', () => {
    const pem = pair.certificatePem;
    expect(pem).not.toContain('\r');
    expect(pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    expect(pem.endsWith('\n-----END CERTIFICATE-----\n')).toBe(true);
    expect(pem.endsWith('\n\n')).toBe(false);
    const body = pem.split('\n').slice(1, -2);
    expect(body.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(body.at(-1)!.length).toBeGreaterThan(0);
    expect(body.at(-1)!.length).toBeLessThanOrEqual(64);
    expect(canonicalCertificatePem(pem)).toBe(pem);
    expect(pair.privateKeyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true); // PKCS#8, unencrypted
    expect(pair.privateKeyPem).not.toContain('\r');
  });

  it('has a private key that matches the certificate', () => {
    const data = Buffer.from('MNet signed bytes');
    const sig = crypto.sign('sha1', data, pair.privateKeyPem);
    expect(crypto.verify('sha1', data, parseCertificate(pair.certificatePem).publicKey, sig)).toBe(true);
    expect(crypto.verify('sha1', data, fixture('moodle.cert.pem'), sig)).toBe(false);
  });

  it('reads the same through the openssl CLI (what PHP openssl_x509_parse uses)', () => {
    const out = execFileSync(
      'openssl',
      ['x509', '-noout', '-subject', '-enddate', '-serial', '-nameopt', 'multiline,utf8,-esc_msb'],
      { input: pair.certificatePem, encoding: 'utf8' },
    );
    const field = (name: string) => new RegExp(`^\\s*${name}\\s*= (.*)$`, 'm').exec(out)?.[1];
    expect(field('commonName')).toBe(long.slice(0, 64));
    expect(field('organizationalUnitName')).toBe('Mahara');
    expect(field('organizationName')).toBe('Zoë’s Mahara');
    expect(field('emailAddress')).toBe('noreply@mahara.test');
    expect(out).toMatch(/^serial=00$/m);
    expect(out).toMatch(/^notAfter=Mar {2}4 05:06:07 2027 GMT$/m);
  });

  it('refuses bad configuration before generating a key', async () => {
    const subject = { country: 'NZ', province: 'W', locality: 'L', organisation: 'O', email: 'a@b.c' };
    const base = { wwwroot: 'http://mahara.test', subject, days: 365, now };
    for (const o of [
      { ...base, bits: 1024 },
      { ...base, days: 0 },
      { ...base, days: 1.5 },
      { ...base, wwwroot: '/' },
      { ...base, now: new Date(Number.NaN) },
      { ...base, subject: { ...subject, country: 'NZL' } },
      { ...base, subject: { ...subject, email: 'zoë@b.c' } },
    ]) {
      await expect(generateKeyPair(o)).rejects.toMatchObject({ code: FaultCode.InvalidInput });
    }
  });
});
