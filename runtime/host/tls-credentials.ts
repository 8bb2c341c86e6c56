/**
 * The terminal's TLS client certificate for the acquirer host, as the factory provisions it
 * (`pos factory tls --client-cert FILE --client-key FILE`) and the terminal loads it.
 *
 * Beside the device key (the folder above the journal's, where `device.key` lives):
 *   host-client.crt          the certificate, PEM (public; mode 0644)
 *   host-client.key.sealed   the private key, sealed under the device key (mode 0600)
 * both written durably (temporary file, fsync, rename, fsync of the folder: docs/FACTS.md).
 *
 * Sealed form (DESIGN.md rule 8, keys at rest under the device key): device-key.ts `seal` takes
 * at most SEALED_PLAINTEXT_BYTES_MAX bytes and an RSA key's DER is larger, so the key is sealed
 * as an envelope: a fresh 32-byte data key sealed with `seal` under the device key, and the key's
 * PKCS#8 DER under that data key with AES-256-GCM. Both carry the certificate's SHA-256 as
 * associated data, so a key sealed for one certificate does not open beside another, and a file
 * copied from another terminal does not open under this one's device key.
 *   "PTK1" | sealed data key length (u16 BE) | sealed data key | iv (12) | tag (16) | ciphertext
 * The key never reaches a log: errors name the files, not their content.
 */
import { X509Certificate, createCipheriv, createDecipheriv, createPrivateKey, createHash, KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../../common/errors';
import { DeviceKeyProvider, RandomBytes, seal, unseal, writeKeyFileDurably } from '../device-key';
import { CERT_FILE_BYTES_MAX, TlsCredentials, readCaFile } from './tls';
import type { HostTlsConfig } from '../../hal/board-schema';

export const CLIENT_CERT_FILE = 'host-client.crt';
export const CLIENT_KEY_SEALED_FILE = 'host-client.key.sealed';
const MAGIC = Buffer.from('PTK1', 'ascii');
const DATA_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** An RSA-4096 key's PKCS#8 DER is about 2.4 KB; anything far larger is not a key. */
export const CLIENT_KEY_DER_BYTES_MAX = 8 * 1024;

const aadOf = (cert: X509Certificate): string => `host-tls-client-key:${createHash('sha256').update(cert.raw).digest('hex')}`;

function readBounded(file: string, what: string): Buffer {
  try {
    const b = readFileSync(file);
    if (b.length > CERT_FILE_BYTES_MAX) throw new Error(`over ${CERT_FILE_BYTES_MAX} bytes`);
    return b;
  } catch (e) {
    throw new PosError('NET_TLS_CREDENTIALS', `${what} ${file} cannot be read: ${(e as Error).message}`, { file, requestSent: false }, { cause: e });
  }
}

function sealKey(deviceKey: Buffer, der: Buffer, aad: string, random: RandomBytes): Buffer {
  const dataKey = random(DATA_KEY_BYTES);
  const sealedDataKey = seal(deviceKey, dataKey, aad, random);
  const iv = random(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', dataKey, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(der), c.final()]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(sealedDataKey.length);
  dataKey.fill(0);
  return Buffer.concat([MAGIC, len, sealedDataKey, iv, c.getAuthTag(), ct]);
}

function unsealKey(deviceKey: Buffer, blob: Buffer, aad: string, file: string): KeyObject {
  const bad = (why: string): PosError => new PosError('NET_TLS_CREDENTIALS', `the sealed client key ${file} ${why}`, { file, requestSent: false });
  if (blob.length < MAGIC.length + 2 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('is not in sealed form');
  const n = blob.readUInt16BE(MAGIC.length);
  const at = MAGIC.length + 2;
  if (blob.length < at + n + IV_BYTES + TAG_BYTES) throw bad('is cut short');
  let dataKey: Buffer;
  try {
    dataKey = unseal(deviceKey, blob.subarray(at, at + n), aad);
  } catch {
    throw bad('does not open under this device key and certificate (provisioned for another terminal or certificate?)');
  }
  const ivAt = at + n;
  const d = createDecipheriv('aes-256-gcm', dataKey, blob.subarray(ivAt, ivAt + IV_BYTES));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(blob.subarray(ivAt + IV_BYTES, ivAt + IV_BYTES + TAG_BYTES));
  try {
    const der = Buffer.concat([d.update(blob.subarray(ivAt + IV_BYTES + TAG_BYTES)), d.final()]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw bad('is damaged');
  } finally {
    dataKey.fill(0);
  }
}

export interface ProvisionClientCertOptions {
  /** The folder of the device key (dirname of the journal folder). */
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly deviceKey: DeviceKeyProvider;
  readonly random: RandomBytes;
}

/**
 * Checks that the key belongs to the certificate, then writes the certificate and the sealed key
 * durably. Returns the certificate's subject, expiry and SHA-256 for the station's report.
 */
export function provisionClientCert(o: ProvisionClientCertOptions): { subject: string; validTo: string; sha256: string } {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(readBounded(o.certFile, 'client certificate'));
  } catch (e) {
    throw e instanceof PosError ? e : new PosError('NET_TLS_CREDENTIALS', `client certificate ${o.certFile} is not a certificate`, { file: o.certFile });
  }
  try {
    key = createPrivateKey(readBounded(o.keyFile, 'client key'));
  } catch (e) {
    throw e instanceof PosError ? e : new PosError('NET_TLS_CREDENTIALS', `client key ${o.keyFile} is not a private key`, { file: o.keyFile });
  }
  if (!cert.checkPrivateKey(key)) throw new PosError('NET_TLS_CREDENTIALS', `client key ${o.keyFile} does not belong to certificate ${o.certFile}`, { file: o.keyFile });
  const der = key.export({ format: 'der', type: 'pkcs8' });
  if (der.length > CLIENT_KEY_DER_BYTES_MAX) throw new PosError('NET_TLS_CREDENTIALS', `client key ${o.keyFile} is over ${CLIENT_KEY_DER_BYTES_MAX} bytes`, { file: o.keyFile });
  const sealed = sealKey(o.deviceKey.deviceKey(), der, aadOf(cert), o.random);
  der.fill(0);
  // The certificate first: a cut between the two leaves a certificate without a key, which the
  // terminal reports (E-NET-27) and the station provisions again; never a key without its certificate.
  writeKeyFileDurably(join(o.dir, CLIENT_CERT_FILE), Buffer.from(cert.toString(), 'utf8'), { mode: 0o644 });
  writeKeyFileDurably(join(o.dir, CLIENT_KEY_SEALED_FILE), sealed, { mode: 0o600 });
  return { subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo, sha256: createHash('sha256').update(cert.raw).digest('hex') };
}

/** The provisioned client certificate and its unsealed key (PEM in memory), or undefined when none was provisioned. */
export function loadClientCert(dir: string, deviceKey: DeviceKeyProvider): { certPem: string; keyPem: string } | undefined {
  const certFile = join(dir, CLIENT_CERT_FILE);
  const keyFile = join(dir, CLIENT_KEY_SEALED_FILE);
  if (!existsSync(certFile) && !existsSync(keyFile)) return undefined;
  const certPem = readBounded(certFile, 'client certificate').toString('utf8');
  const cert = new X509Certificate(certPem);
  const key = unsealKey(deviceKey.deviceKey(), readBounded(keyFile, 'sealed client key'), aadOf(cert), keyFile);
  return { certPem, keyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** What a TlsLink needs for a board's `host.tls`: the CA file, and the client certificate when it asks for one. */
export function loadTlsCredentials(config: HostTlsConfig, dir: string, deviceKey: DeviceKeyProvider): TlsCredentials {
  const caPem = readCaFile(config.caFile);
  if (!config.clientCert) return { caPem };
  const client = loadClientCert(dir, deviceKey);
  if (client === undefined) {
    throw new PosError('NET_TLS_CREDENTIALS', `the board asks for a client certificate and none is provisioned in ${dir} (pos factory tls)`, { dir, requestSent: false });
  }
  return { caPem, client };
}
