// The one Deno.dlopen of OpenSSL 3 (libssl.so.3 and libcrypto.so.3), for TLS. Loaded only when
// rawserve serves HTTPS: importing this module opens the libraries, and a missing one is a
// StartupError that names the Debian package. OpenSSL's error queue is read and cleared in one
// place (takeSslError), as errno is read in one place (lastErrno).

import { StartupError } from "./errno.ts";

/**
 * Pointers to OpenSSL objects (SSL_CTX *, SSL *, X509 *) are `"pointer"` parameters: Deno passes
 * them as pointer objects. Lengths are i32 (OpenSSL's `int num`), so none of the per-request
 * calls (SSL_read, SSL_write, SSL_get_error, SSL_has_pending) needs a BigInt. 64-bit parameters
 * (`long larg` of the ctrl calls, `uint64_t` options) appear only in set-up calls.
 *
 * Measured 2026-11-25 with scripts/tls_ffi_bench.ts (Deno 2.9.6, pinned to one CPU, median of
 * 5 rounds), ns per call: a bare i32 call (abs) 6; SSL_has_pending(ssl) 10; SSL_get_error 32;
 * SSL_read with nothing to read (its read(2) gets EAGAIN) 1,054; SSL_write of 13 bytes plus
 * SSL_read of them on the peer 5,341. A pointer argument keeps V8's fast call (10 ns against 6),
 * so the cost of TLS per request is OpenSSL's and the kernel's, not the binding's; and asking
 * SSL_has_pending (10 ns) instead of reading until WANT_READ (1 µs) is worth it.
 */
export const LIBSSL = {
  TLS_server_method: { parameters: [], result: "pointer" }, // const SSL_METHOD *(void)
  SSL_CTX_new: { parameters: ["pointer"], result: "pointer" }, // SSL_CTX *(const SSL_METHOD *)
  SSL_CTX_free: { parameters: ["pointer"], result: "void" }, // void (SSL_CTX *): drops one reference
  // int (SSL_CTX *): one more reference, so the context outlives its owner's SSL_CTX_free
  SSL_CTX_up_ref: { parameters: ["pointer"], result: "i32" },
  // long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg): the macros
  // SSL_CTX_set_mode, _set_min_proto_version, _set_read_ahead, _set_session_cache_mode and
  // _set_tlsext_ticket_keys all expand to it. Set-up only (larg is 64-bit).
  SSL_CTX_ctrl: { parameters: ["pointer", "i32", "i64", "buffer"], result: "i64" },
  SSL_CTX_set_options: { parameters: ["pointer", "u64"], result: "u64" }, // uint64_t (SSL_CTX *, uint64_t op)
  // int (SSL_CTX *, const char *file): the leaf certificate, then the chain, from one PEM file
  SSL_CTX_use_certificate_chain_file: { parameters: ["pointer", "buffer"], result: "i32" },
  // int (SSL_CTX *, const char *file, int type)
  SSL_CTX_use_PrivateKey_file: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  SSL_CTX_check_private_key: { parameters: ["pointer"], result: "i32" }, // int (const SSL_CTX *)
  SSL_CTX_get0_certificate: { parameters: ["pointer"], result: "pointer" }, // X509 *(const SSL_CTX *)
  // void (SSL_CTX *, pem_password_cb *cb): so an encrypted key fails instead of prompting
  SSL_CTX_set_default_passwd_cb: { parameters: ["pointer", "function"], result: "void" },
  // void (SSL_CTX *, int (*cb)(SSL *, const unsigned char **out, unsigned char *outlen,
  //       const unsigned char *in, unsigned int inlen, void *arg), void *arg)
  SSL_CTX_set_alpn_select_cb: { parameters: ["pointer", "function", "pointer"], result: "void" },
  // void (const SSL *, const unsigned char **data, unsigned int *len): the protocol ALPN chose
  SSL_get0_alpn_selected: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  SSL_CTX_set_num_tickets: { parameters: ["pointer", "usize"], result: "i32" }, // int (SSL_CTX *, size_t)
  // long (SSL_CTX *, int cmd, void (*fp)(void)): SSL_CTX_set_tlsext_ticket_key_cb expands to it
  SSL_CTX_callback_ctrl: { parameters: ["pointer", "i32", "function"], result: "i64" },
  SSL_get_SSL_CTX: { parameters: ["pointer"], result: "pointer" }, // SSL_CTX *(const SSL *)
  SSL_new: { parameters: ["pointer"], result: "pointer" }, // SSL *(SSL_CTX *)
  SSL_free: { parameters: ["pointer"], result: "void" }, // void (SSL *)
  SSL_set_fd: { parameters: ["pointer", "i32"], result: "i32" }, // int (SSL *, int fd)
  SSL_set_accept_state: { parameters: ["pointer"], result: "void" }, // void (SSL *)
  SSL_do_handshake: { parameters: ["pointer"], result: "i32" }, // int (SSL *)
  SSL_read: { parameters: ["pointer", "buffer", "i32"], result: "i32" }, // int (SSL *, void *buf, int num)
  SSL_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" }, // int (SSL *, const void *buf, int num)
  SSL_get_error: { parameters: ["pointer", "i32"], result: "i32" }, // int (const SSL *, int ret)
  SSL_has_pending: { parameters: ["pointer"], result: "i32" }, // int (const SSL *)
  SSL_shutdown: { parameters: ["pointer"], result: "i32" }, // int (SSL *)
  SSL_session_reused: { parameters: ["pointer"], result: "i32" }, // int (const SSL *)
  SSL_get_version: { parameters: ["pointer"], result: "pointer" }, // const char *(const SSL *)
  SSL_get_wbio: { parameters: ["pointer"], result: "pointer" }, // BIO *(const SSL *)
  // ossl_ssize_t (SSL *, int fd, off_t offset, size_t size, int flags): kernel TLS only. Its
  // 64-bit arguments cost a BigInt per call, once per sendfile of up to 2^30 bytes.
  SSL_sendfile: { parameters: ["pointer", "i32", "i64", "usize", "i32"], result: "i64" },
  // For SNI (RFC 6066 §3), inside the servername callback that SSL_CTX_callback_ctrl installs
  // (SSL_CTX_set_tlsext_servername_callback expands to it): int cb(SSL *, int *alert, void *arg).
  // const char *(const SSL *, int type): the name the client asked for, or NULL
  SSL_get_servername: { parameters: ["pointer", "i32"], result: "pointer" },
  // SSL_CTX *(SSL *, SSL_CTX *): serve this connection from another context (its certificate);
  // the SSL takes its own reference to it and drops the one it held on the previous
  SSL_set_SSL_CTX: { parameters: ["pointer", "pointer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

export const LIBCRYPTO = {
  // unsigned long (void). OpenSSL 3 packs an error code into 32 bits (library in bits 23-30,
  // reason in bits 0-22, ERR_SYSTEM_FLAG in bit 31), so u32 loses nothing.
  ERR_get_error: { parameters: [], result: "u32" },
  ERR_clear_error: { parameters: [], result: "void" }, // void (void)
  ERR_reason_error_string: { parameters: ["u64"], result: "pointer" }, // const char *(unsigned long e)
  BIO_ctrl: { parameters: ["pointer", "i32", "i64", "pointer"], result: "i64" }, // long (BIO *, int cmd, long, void *)
  // For the session-ticket callback (SSL_CTX_set_tlsext_ticket_key_cb(3)): an IV, AES-256-CBC
  // and HMAC-SHA256 keyed with our keys. HMAC_Init_ex is deprecated in 3.0 but exported, and is
  // what the callback's HMAC_CTX takes (the EVP_MAC variant would need OSSL_PARAM arrays).
  RAND_bytes: { parameters: ["pointer", "i32"], result: "i32" }, // int (unsigned char *buf, int num)
  EVP_aes_256_cbc: { parameters: [], result: "pointer" }, // const EVP_CIPHER *(void)
  EVP_sha256: { parameters: [], result: "pointer" }, // const EVP_MD *(void)
  // int (EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *, const unsigned char *key, const unsigned char *iv)
  EVP_EncryptInit_ex: { parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"], result: "i32" },
  EVP_DecryptInit_ex: { parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"], result: "i32" },
  // int (HMAC_CTX *, const void *key, int len, const EVP_MD *, ENGINE *)
  HMAC_Init_ex: { parameters: ["pointer", "buffer", "i32", "pointer", "pointer"], result: "i32" },
  X509_get0_notAfter: { parameters: ["pointer"], result: "pointer" }, // const ASN1_TIME *(const X509 *)
  X509_get0_notBefore: { parameters: ["pointer"], result: "pointer" }, // const ASN1_TIME *(const X509 *)
  X509_cmp_current_time: { parameters: ["pointer"], result: "i32" }, // int (const ASN1_TIME *)
  ASN1_TIME_to_tm: { parameters: ["pointer", "buffer"], result: "i32" }, // int (const ASN1_TIME *, struct tm *)
  X509_get_subject_name: { parameters: ["pointer"], result: "pointer" }, // X509_NAME *(const X509 *)
  X509_NAME_oneline: { parameters: ["pointer", "buffer", "i32"], result: "pointer" }, // char *(const X509_NAME *, char *buf, int size)
  // int (X509 *, const char *name, size_t namelen, unsigned int flags, char **peername): 1 when
  // the certificate was issued for the name (subjectAltName DNS entries, wildcards as RFC 6125
  // §6.4.3 allows, the subject's CN only without any). namelen 0: a C string.
  X509_check_host: { parameters: ["pointer", "pointer", "usize", "u32", "pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

function open<T extends Deno.ForeignLibraryInterface>(name: string, symbols: T): Deno.DynamicLibrary<T> {
  try {
    return Deno.dlopen(name, symbols);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new StartupError(
      `Cannot load ${name} (OpenSSL 3) for HTTPS: ${why}; install the libssl3 package ` +
        `(apt-get install libssl3), or serve plain HTTP`,
    );
  }
}

/** libcrypto first: libssl needs it, and its absence is the clearer message. */
export const libcrypto = open("libcrypto.so.3", LIBCRYPTO);
export const libssl = open("libssl.so.3", LIBSSL);

/** SSL_get_error() results (openssl/ssl.h). */
export const SSL_ERROR = {
  NONE: 0,
  SSL: 1,
  WANT_READ: 2,
  WANT_WRITE: 3,
  SYSCALL: 5,
  ZERO_RETURN: 6,
} as const;

/** Options (SSL_OP_*, openssl/ssl.h of 3.0), as BigInt for SSL_CTX_set_options. */
export const SSL_OP = {
  ENABLE_KTLS: 1n << 3n,
  IGNORE_UNEXPECTED_EOF: 1n << 7n,
  NO_TICKET: 1n << 14n,
  NO_COMPRESSION: 1n << 17n,
  NO_RENEGOTIATION: 1n << 30n,
} as const;

/** Modes (SSL_MODE_*). */
export const SSL_MODE = {
  ENABLE_PARTIAL_WRITE: 0x1,
  ACCEPT_MOVING_WRITE_BUFFER: 0x2,
  RELEASE_BUFFERS: 0x10,
} as const;

/** SSL_CTX_ctrl commands. */
export const SSL_CTRL = {
  MODE: 33,
  SET_READ_AHEAD: 41,
  SET_SESS_CACHE_MODE: 44,
  SET_TLSEXT_SERVERNAME_CB: 53,
  SET_TLSEXT_TICKET_KEY_CB: 72,
  SET_MIN_PROTO_VERSION: 123,
} as const;

export const TLS1_2_VERSION = 0x0303;
export const SSL_FILETYPE_PEM = 1;
export const SSL_SESS_CACHE_OFF = 0;
/** The ticket callback's key name and IV sizes (openssl/tls1.h's key_name[16], EVP_MAX_IV_LENGTH). */
export const TICKET_KEY_NAME_LENGTH = 16;
export const EVP_MAX_IV_LENGTH = 16;
export const SSL_TLSEXT_ERR_OK = 0;
export const SSL_TLSEXT_ERR_ALERT_FATAL = 2;
export const BIO_CTRL_GET_KTLS_SEND = 73;
/** SSL_get_servername's type: a DNS host name, the only type RFC 6066 §3 defines. */
export const TLSEXT_NAMETYPE_HOST_NAME = 0;
/** X509_check_host: `*` stands for a whole label (`*.example.com`), never part of one (`w*.example.com`). */
export const X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4;

const { ERR_get_error, ERR_clear_error, ERR_reason_error_string } = libcrypto.symbols;

/**
 * The first error OpenSSL queued on this thread, and the queue emptied. Call it right after an
 * OpenSSL call failed with SSL_ERROR_SSL or SSL_ERROR_SYSCALL (or a set-up call returned
 * failure): SSL_get_error() is reliable only when the queue was empty before the call
 * (SSL_get_error(3)), so nothing may be left in it.
 * @returns the packed error code, 0 when the queue was empty
 */
export function takeSslError(): number {
  const code = ERR_get_error();
  if (code !== 0) ERR_clear_error();
  return code;
}

/**
 * OpenSSL's text for an error code's reason, e.g. `"unsupported protocol"`.
 * @param code a code from takeSslError()
 * @returns the reason, `"reason N"` when OpenSSL has no text, `"no error queued"` for 0
 */
export function sslErrorReason(code: number): string {
  if (code === 0) return "no error queued";
  const text = ERR_reason_error_string(BigInt(code));
  if (text === null) return `reason ${code & 0x7fffff}`;
  return Deno.UnsafePointerView.getCString(text);
}

/** A C string returned by OpenSSL, or "" for NULL. */
export function cString(pointer: Deno.PointerValue): string {
  return pointer === null ? "" : Deno.UnsafePointerView.getCString(pointer);
}
