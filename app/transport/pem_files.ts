// The certificate and key files as text, checked before OpenSSL sees them: each mistake a person
// is likely to make (a missing or unreadable file, the wrong kind of PEM, an encrypted key, a key
// that is not the certificate's) becomes one line that says what to do (StartupError).

import { StartupError } from "../../ffi/errno.ts";
import type { TlsFiles } from "./tls_context.ts";

/** The key is not the certificate's: one line that says which files, and what to give instead. */
export function mismatch(labels: TlsFiles, reason: string): StartupError {
  return new StartupError(
    `${labels.key} does not match ${labels.cert} (${reason}); give the key the certificate was issued for`,
  );
}

/** What a certificate file must hold. */
export const CERT_MARKER = {
  re: /-----BEGIN CERTIFICATE-----/,
  what: "PEM certificate (-----BEGIN CERTIFICATE-----)",
};
/** What a key file must hold (PKCS#8, or the older RSA and EC forms). */
export const KEY_MARKER = {
  re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  what: "PEM private key (-----BEGIN PRIVATE KEY-----)",
};

/**
 * Turns the likely mistakes in PEM text into one clear line before OpenSSL sees it.
 * @param keyName how to name the key in the advice to decrypt it
 */
export function checkText(pem: TlsFiles, labels: TlsFiles, keyName: string): void {
  if (!CERT_MARKER.re.test(pem.cert)) {
    throw new StartupError(`Cannot use ${labels.cert}: it holds no ${CERT_MARKER.what}`);
  }
  if (!KEY_MARKER.re.test(pem.key)) {
    throw new StartupError(`Cannot use ${labels.key}: it holds no ${KEY_MARKER.what}`);
  }
  if (/ENCRYPTED/.test(pem.key)) {
    throw new StartupError(
      `Cannot use ${labels.key}: the key is encrypted with a passphrase; rawserve needs it ` +
        `unencrypted (openssl pkey -in ${keyName} -out key.pem), readable only by its user`,
    );
  }
}

/**
 * Reads a PEM file the way OpenSSL will, to turn the likely mistakes into one clear line.
 * @returns the file's text
 */
export function checkPem(path: string, flag: string, marker: { re: RegExp; what: string }): string {
  let text: string;
  try {
    text = new TextDecoder().decode(Deno.readFileSync(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT"
      ? "no such file (ENOENT)"
      : code === "EACCES"
      ? "permission denied (EACCES); this user must be able to read it"
      : code === "EISDIR"
      ? "is a directory (EISDIR)"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new StartupError(`Cannot read ${flag} ${path}: ${why}`);
  }
  if (!marker.re.test(text)) throw new StartupError(`Cannot use ${flag} ${path}: it holds no ${marker.what}`);
  return text;
}
