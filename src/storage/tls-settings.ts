// security.verify_certificates and security.ca_bundle → the TLS settings of the HTTP agents.
import { readFile } from 'node:fs/promises';
import { InvalidConfigError } from '../backup/errors.ts';
import type { BackupSecurity } from '../config/schema.ts';
import type { TlsSettings } from './http-agent.ts';

/**
 * Verification is on unless a setting turns it off explicitly; the backend's own
 * verify_certificates (storage.s3 / storage.minio) overrides the global one. Turning it off is
 * reported through `warn` every time, so it cannot go unnoticed in logs.
 */
export async function loadTlsSettings(
  security: BackupSecurity | undefined,
  backendVerify: boolean | undefined,
  where: string,
  warn: (message: string) => void,
): Promise<TlsSettings> {
  const verify = backendVerify ?? security?.verify_certificates ?? true;
  if (!verify) {
    warn(`TLS certificate verification is OFF for ${where} (verify_certificates = false): anyone on the network path can read and alter backups in transit`);
  }
  const bundle = security?.ca_bundle;
  if (!bundle) return { verify };
  let pem: string;
  try {
    pem = await readFile(bundle, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(`security.ca_bundle: cannot read ${bundle}: ${(err as Error).message}`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InvalidConfigError(`security.ca_bundle: ${bundle} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
  }
  return { verify, extraCa: pem };
}
