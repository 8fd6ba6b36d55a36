// The TLS configuration every connection of a server shares: one SSL_CTX built from --cert and
// --key, with TLS 1.2 as the floor, OpenSSL's default ciphers and groups, ALPN (app/transport/alpn.ts) and
// stateless session tickets under rotating keys (app/ticket_keys.ts). Building it checks what a person could get wrong and says so in
// one line (StartupError); the context is owned by a TlsContext, which counts the references
// connections take (SSL_CTX_up_ref) and frees each once.

import {
  cString,
  EVP_MAX_IV_LENGTH,
  libcrypto,
  libssl,
  SSL_CTRL,
  SSL_FILETYPE_PEM,
  SSL_MODE,
  SSL_OP,
  SSL_SESS_CACHE_OFF,
  sslErrorReason,
  takeSslError,
  TICKET_KEY_NAME_LENGTH,
  TLS1_2_VERSION,
  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
} from "../../ffi/libssl.ts";
import { StartupError } from "../../ffi/errno.ts";
import { memoryFile } from "../../ffi/files.ts";
import type { OwnedFd } from "../../ffi/socket.ts";
import type { TicketKeyRing } from "./ticket_keys.ts";
import { alpnSelector } from "./alpn.ts";

const {
  TLS_server_method,
  SSL_CTX_new,
  SSL_CTX_free,
  SSL_CTX_up_ref,
  SSL_CTX_ctrl,
  SSL_CTX_set_options,
  SSL_CTX_use_certificate_chain_file,
  SSL_CTX_use_PrivateKey_file,
  SSL_CTX_check_private_key,
  SSL_CTX_get0_certificate,
  SSL_CTX_set_default_passwd_cb,
  SSL_CTX_set_alpn_select_cb,
  SSL_CTX_set_num_tickets,
  SSL_CTX_callback_ctrl,
  SSL_get_SSL_CTX,
} = libssl.symbols;
const {
  X509_get0_notAfter,
  X509_get0_notBefore,
  ASN1_TIME_to_tm,
  X509_get_subject_name,
  X509_NAME_oneline,
  RAND_bytes,
  EVP_aes_256_cbc,
  EVP_sha256,
  EVP_EncryptInit_ex,
  EVP_DecryptInit_ex,
  HMAC_Init_ex,
  X509_check_host,
} = libcrypto.symbols;

/**
 * A passphrase callback that gives none: without it OpenSSL would prompt on the terminal for an
 * encrypted key and stop the server there (pem_password_cb: return 0 for "no passphrase").
 */
const NO_PASSPHRASE = new Deno.UnsafeCallback(
  { parameters: ["pointer", "i32", "i32", "pointer"], result: "i32" } as const,
  () => 0,
);

/**
 * Each live SSL_CTX's ticket keys, by the context's address: OpenSSL's ticket callback gets the
 * SSL, not an argument of ours. An entry lives as long as the SSL_CTX has a reference we hold
 * (TlsContext removes it with its last one), so a connection accepted before a reload still
 * finds its keys.
 */
const TICKET_RINGS = new Map<bigint, TicketKeyRing>();

function address(pointer: Deno.PointerObject): bigint {
  return BigInt(Deno.UnsafePointer.value(pointer));
}

/**
 * SSL_CTX_set_tlsext_ticket_key_cb(3), called inside SSL_do_handshake. Encrypting (enc 1): the
 * current key's name, a random IV, AES-256-CBC and HMAC-SHA256 keyed with it; returns 1, or 0
 * (no ticket) when no key or IV can be had. Decrypting (enc 0): the key named in the ticket;
 * returns 1, 2 for the previous period's key (OpenSSL then issues a fresh ticket), or 0 for an
 * unknown or retired name (a full handshake). OpenSSL copies the keys into its contexts; the
 * name and IV buffers are OpenSSL's, valid during the call only.
 */
const TICKET_KEY_CB = new Deno.UnsafeCallback(
  { parameters: ["pointer", "pointer", "pointer", "pointer", "pointer", "i32"], result: "i32" } as const,
  (ssl, keyName, iv, cipher, mac, enc) => {
    const ctx = ssl ? SSL_get_SSL_CTX(ssl) : null;
    const ring = ctx ? TICKET_RINGS.get(address(ctx)) : undefined;
    if (!ring || !keyName || !iv || !cipher || !mac) return 0;
    if (enc === 1) {
      const key = ring.encryptionKey();
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(keyName, TICKET_KEY_NAME_LENGTH)).set(key.name);
      if (
        RAND_bytes(iv, EVP_MAX_IV_LENGTH) !== 1 ||
        EVP_EncryptInit_ex(cipher, AES_256_CBC, null, key.aes, iv) !== 1 ||
        HMAC_Init_ex(mac, key.hmac, key.hmac.length, SHA256, null) !== 1
      ) {
        takeSslError();
        return 0;
      }
      return 1;
    }
    const name = new Uint8Array(TICKET_KEY_NAME_LENGTH);
    Deno.UnsafePointerView.copyInto(keyName, name);
    const found = ring.decryptionKey(name);
    if (!found) return 0;
    if (
      HMAC_Init_ex(mac, found.key.hmac, found.key.hmac.length, SHA256, null) !== 1 ||
      EVP_DecryptInit_ex(cipher, AES_256_CBC, null, found.key.aes, iv) !== 1
    ) {
      takeSslError();
      return -1;
    }
    return found.renew ? 2 : 1;
  },
);
const AES_256_CBC = EVP_aes_256_cbc();
const SHA256 = EVP_sha256();

/** The files a context is built from. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** What building a context needs besides the files. */
export interface TlsContextOptions {
  /**
   * The session-ticket keys, rotating. Workers and reloads share them, so a ticket issued by
   * one worker, or before a SIGHUP, resumes a session with any of them.
   */
  ticketKeys: TicketKeyRing;
  /** Ask OpenSSL for kernel TLS (SSL_OP_ENABLE_KTLS); only when the kernel has the tls ULP. */
  ktls: boolean;
  /** Issue session tickets (default true); off, every connection does a full handshake. */
  tickets?: boolean;
  /** Offer HTTP/2 (`h2`) by ALPN besides `http/1.1` (default true). */
  http2?: boolean;
}

/**
 * An SSL_CTX and what rawserve reports about its certificate. Its owner's reference is dropped
 * by dispose; each connection takes one of its own (retain) and drops it (release) once it is
 * gone, so a reload can dispose the old context while connections accepted before it still
 * wait for their first byte. The SSL_CTX is freed with the last reference.
 */
export class TlsContext implements Disposable {
  #ctx: Deno.PointerObject | null;
  /** References held: the owner's (until dispose) and one per retain not yet released. */
  #refs = 1;
  #disposed = false;
  /** The certificate's subject, e.g. `/CN=localhost`. */
  readonly subject: string;
  /** The certificate's validity period. */
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  /** Whether kernel TLS was asked for. */
  readonly ktls: boolean;

  private constructor(ctx: Deno.PointerObject, ktls: boolean, ticketKeys: TicketKeyRing) {
    this.#ctx = ctx;
    this.ktls = ktls;
    TICKET_RINGS.set(address(ctx), ticketKeys);
    const cert = SSL_CTX_get0_certificate(ctx);
    this.subject = cert ? certificateSubject(cert) : "";
    this.notBefore = cert ? asn1Date(X509_get0_notBefore(cert)) : null;
    this.notAfter = cert ? asn1Date(X509_get0_notAfter(cert)) : null;
  }

  /**
   * The SSL_CTX, for a caller that uses it only while the owner's reference is held (a
   * connection that may outlive the owner takes its own with retain).
   * @throws {Error} after dispose
   */
  get pointer(): Deno.PointerObject {
    if (!this.#ctx || this.#disposed) throw new Error("TlsContext used after dispose");
    return this.#ctx;
  }

  /** How many references are held (the owner's and the connections'), for tests. */
  get references(): number {
    return this.#refs;
  }

  /**
   * A reference for one connection (SSL_CTX_up_ref): the SSL_CTX stays valid until release(),
   * whatever happens to the owner's reference meanwhile.
   * @returns the SSL_CTX, for SSL_new
   * @throws {Error} after dispose: a new connection takes the current context, never an old one
   */
  retain(): Deno.PointerObject {
    const ctx = this.pointer;
    if (SSL_CTX_up_ref(ctx) !== 1) throw new Error("SSL_CTX_up_ref failed");
    this.#refs++;
    return ctx;
  }

  /** Drops a reference taken by retain(); the last one frees the SSL_CTX. Call once per retain. */
  release(): void {
    const ctx = this.#ctx;
    if (!ctx) throw new Error("TlsContext released more often than retained");
    if (--this.#refs === 0) {
      this.#ctx = null;
      TICKET_RINGS.delete(address(ctx)); // before the free: the address may be reused at once
    }
    SSL_CTX_free(ctx);
  }

  /**
   * Builds the context from PEM files.
   * @throws {StartupError} for a missing or unreadable file, a file that holds no certificate or
   * key, an encrypted key, or a key that does not match the certificate; the message says which
   */
  static load(files: TlsFiles, options: TlsContextOptions): TlsContext {
    const certText = checkPem(files.cert, "--cert", CERT_MARKER);
    const keyText = checkPem(files.key, "--key", KEY_MARKER);
    const labels = { cert: `--cert ${files.cert}`, key: `--key ${files.key}` };
    checkText({ cert: certText, key: keyText }, labels, files.key);
    return TlsContext.#fromPaths(files, labels, options);
  }

  /**
   * Builds the context from PEM text (serve()'s `cert` and `key`, as Deno.serve takes them). The
   * text goes to OpenSSL through files in memory (memfd), never to a disk.
   * @throws {StartupError} as load() does, naming the options instead of files
   */
  static fromPem(pem: { cert: string; key: string }, options: TlsContextOptions): TlsContext {
    const labels = { cert: "the cert option", key: "the key option" };
    checkText(pem, labels, "key.pem");
    const encoder = new TextEncoder();
    using cert = memoryFile("rawserve-cert", encoder.encode(pem.cert)).fd;
    using key = memoryFile("rawserve-key", encoder.encode(pem.key)).fd;
    const path = (fd: OwnedFd) => `/proc/self/fd/${fd.fd}`;
    return TlsContext.#fromPaths({ cert: path(cert), key: path(key) }, labels, options);
  }

  /** Builds the context from checked PEM files; `labels` name them in errors. */
  static #fromPaths(files: TlsFiles, labels: TlsFiles, options: TlsContextOptions): TlsContext {
    takeSslError(); // start from an empty queue
    const ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) throw new StartupError(`Cannot create a TLS context: ${sslErrorReason(takeSslError())}`);
    try {
      configure(ctx, options);
      const path = (p: string) => new TextEncoder().encode(`${p}\0`);
      if (SSL_CTX_use_certificate_chain_file(ctx, path(files.cert)) !== 1) {
        throw new StartupError(
          `Cannot use ${labels.cert}: ${sslErrorReason(takeSslError())}; ` +
            `give the server's certificate first, then its chain, in PEM`,
        );
      }
      if (SSL_CTX_use_PrivateKey_file(ctx, path(files.key), SSL_FILETYPE_PEM) !== 1) {
        const reason = sslErrorReason(takeSslError());
        // OpenSSL checks the pair as it loads the key, and says "key values mismatch".
        throw /mismatch/.test(reason) ? mismatch(labels, reason) : new StartupError(
          `Cannot use ${labels.key}: ${reason}; give the certificate's private key in PEM`,
        );
      }
      if (SSL_CTX_check_private_key(ctx) !== 1) throw mismatch(labels, sslErrorReason(takeSslError()));
      const context = new TlsContext(ctx, options.ktls, options.ticketKeys);
      takeSslError(); // leave nothing queued for the first connection's SSL_get_error
      return context;
    } catch (e) {
      takeSslError();
      SSL_CTX_free(ctx);
      throw e;
    }
  }

  /**
   * Warnings about the certificate's dates (clients refuse it outside them), or none.
   * @param now the time to judge by
   */
  warnings(now: Date = new Date()): string[] {
    const out: string[] = [];
    if (this.notAfter && this.notAfter < now) {
      out.push(
        `the certificate (${this.subject}) expired on ${isoDate(this.notAfter)}; clients will refuse it`,
      );
    }
    if (this.notBefore && this.notBefore > now) {
      out.push(`the certificate (${this.subject}) is not valid until ${isoDate(this.notBefore)}`);
    }
    return out;
  }

  /**
   * Whether the certificate was issued for a host name: its subjectAltName DNS names, a
   * wildcard standing for one whole left-most label (`*.example.com` covers `a.example.com`,
   * not `example.com` nor `a.b.example.com`; RFC 6125 §6.4.3), the subject's CN only when it
   * has no DNS names. OpenSSL's X509_check_host decides, as clients verify with it.
   * @param name a C string (SSL_get_servername's); valid while the owner's reference is held
   */
  issuedFor(name: Deno.PointerObject): boolean {
    const cert = SSL_CTX_get0_certificate(this.pointer);
    return !!cert && X509_check_host(cert, name, 0n, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, null) === 1;
  }

  /** Drops the owner's reference, once; connections made from it keep their own. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.release();
  }
}

/**
 * The settings, each with its reason:
 * - TLS 1.2 as the floor: 1.0 and 1.1 are deprecated (RFC 8996); 1.3 is negotiated whenever the
 *   client offers it (OpenSSL prefers the highest common version).
 * - Ciphers, groups and signature algorithms stay OpenSSL's defaults (and the system's policy
 *   in openssl.cnf), which are what the OpenSSL project maintains as secure.
 * - No renegotiation: TLS 1.2 client-initiated renegotiation only costs the server CPU.
 * - An EOF without close_notify ends the stream like a close_notify: HTTP/1.1 frames its own
 *   messages, so truncation shows as an incomplete request (RFC 9112 §9.8).
 * - Partial writes and a moving write buffer: see TlsTransport.write.
 * - Read-ahead: a read(2) takes every record the socket holds, not one header and one body per
 *   record (two system calls each); the records then wait in OpenSSL (SSL_has_pending).
 * - Release buffers: an idle connection gives back OpenSSL's ~34 KiB of read and write buffers.
 * - Session tickets with our keys, and no server-side session cache: resumption costs no memory
 *   per session, and works across workers and reloads (the keys are shared). The keys rotate
 *   every TICKET_ROTATION_MS; the previous ones still decrypt (TICKET_KEY_CB).
 */
function configure(ctx: Deno.PointerObject, options: TlsContextOptions): void {
  let ops = SSL_OP.NO_RENEGOTIATION | SSL_OP.IGNORE_UNEXPECTED_EOF | SSL_OP.NO_COMPRESSION;
  if (options.ktls) ops |= SSL_OP.ENABLE_KTLS;
  // Without tickets and without a session cache nothing can be resumed; sending no tickets at
  // all (TLS 1.3 sends two by default) saves their encryption and bytes.
  if (options.tickets === false) ops |= SSL_OP.NO_TICKET;
  SSL_CTX_set_options(ctx, ops);
  if (options.tickets === false) SSL_CTX_set_num_tickets(ctx, 0n);
  ctrl(ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, TLS1_2_VERSION, "set the minimum protocol version");
  ctrl(
    ctx,
    SSL_CTRL.MODE,
    SSL_MODE.ENABLE_PARTIAL_WRITE | SSL_MODE.ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE.RELEASE_BUFFERS,
    "set the write modes",
  );
  SSL_CTX_ctrl(ctx, SSL_CTRL.SET_READ_AHEAD, 1n, null);
  SSL_CTX_ctrl(ctx, SSL_CTRL.SET_SESS_CACHE_MODE, BigInt(SSL_SESS_CACHE_OFF), null);
  if (options.tickets !== false) {
    const set = SSL_CTX_callback_ctrl(ctx, SSL_CTRL.SET_TLSEXT_TICKET_KEY_CB, TICKET_KEY_CB.pointer);
    if (Number(set) <= 0) {
      throw new StartupError(`Cannot set the session ticket keys: ${sslErrorReason(takeSslError())}`);
    }
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpnSelector(options.http2 !== false), null);
  SSL_CTX_set_default_passwd_cb(ctx, NO_PASSPHRASE.pointer);
}

function ctrl(ctx: Deno.PointerObject, cmd: number, value: number, what: string) {
  if (Number(SSL_CTX_ctrl(ctx, cmd, BigInt(value), null)) <= 0) {
    throw new StartupError(`Cannot ${what} of the TLS context: ${sslErrorReason(takeSslError())}`);
  }
}

function mismatch(labels: TlsFiles, reason: string): StartupError {
  return new StartupError(
    `${labels.key} does not match ${labels.cert} (${reason}); give the key the certificate was issued for`,
  );
}

const CERT_MARKER = {
  re: /-----BEGIN CERTIFICATE-----/,
  what: "PEM certificate (-----BEGIN CERTIFICATE-----)",
};
const KEY_MARKER = {
  re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  what: "PEM private key (-----BEGIN PRIVATE KEY-----)",
};

/**
 * Turns the likely mistakes in PEM text into one clear line before OpenSSL sees it.
 * @param keyName how to name the key in the advice to decrypt it
 */
function checkText(pem: TlsFiles, labels: TlsFiles, keyName: string): void {
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
function checkPem(path: string, flag: string, marker: { re: RegExp; what: string }): string {
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

/** struct tm on x86-64 glibc: nine ints, then long tm_gmtoff and const char *tm_zone (56 bytes). */
const TM = new Int32Array(14);
const TM_BYTES = new Uint8Array(TM.buffer);

function asn1Date(time: Deno.PointerValue): Date | null {
  if (!time || ASN1_TIME_to_tm(time, TM_BYTES) !== 1) return null;
  // tm_sec, tm_min, tm_hour, tm_mday, tm_mon (0-11), tm_year (since 1900), in UTC
  return new Date(Date.UTC(TM[5]! + 1900, TM[4]!, TM[3]!, TM[2]!, TM[1]!, TM[0]!));
}

function certificateSubject(cert: Deno.PointerObject): string {
  const buf = new Uint8Array(256);
  const name = X509_get_subject_name(cert);
  return name ? cString(X509_NAME_oneline(name, buf, buf.length)) : "";
}

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Whether the kernel offers kernel TLS now: the `tls` upper-layer protocol is registered (it is
 * listed once the tls module is loaded; `modprobe tls` loads it). Asking OpenSSL for kTLS
 * without it would cost every connection a failing setsockopt(TCP_ULP).
 * @param ulps the text of /proc/sys/net/ipv4/tcp_available_ulp (read when not given)
 */
export function kernelTlsAvailable(ulps?: string): boolean {
  let text = ulps;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_ulp");
    } catch {
      return false;
    }
  }
  return text.split(/\s+/).includes("tls");
}
