// Several certificates on one listener, chosen by the name the client asks for (SNI, RFC 6066
// §3), as nginx's ngx_ssl_servername does it: OpenSSL calls the servername callback inside
// SSL_do_handshake, once the ClientHello's extensions are read and before a certificate is
// chosen; the connection then moves to the chosen context (SSL_set_SSL_CTX), holding a
// reference to it until it closes (TlsTransport.chooseContext).

import { libssl, SSL_CTRL, SSL_TLSEXT_ERR_OK, sslErrorReason, takeSslError } from "../../ffi/libssl.ts";
import type { TlsContext } from "./tls_context.ts";
import type { TlsTransport } from "./tls_transport.ts";

const { SSL_CTX_callback_ctrl } = libssl.symbols;

/**
 * The transport whose SSL_do_handshake is running: the callback gets the SSL, not an argument
 * of ours, and runs only inside that call (renegotiation is off), on this thread.
 */
export const SNI_HANDSHAKE: { transport: TlsTransport | null } = { transport: null };

/**
 * SSL_CTX_set_tlsext_servername_callback(3): int cb(SSL *, int *alert, void *arg). It never
 * throws into OpenSSL and never fails the handshake: an unknown name, no name, or any failure
 * serves the default certificate (SSL_TLSEXT_ERR_OK, as nginx; RFC 6066 §3 lets a server go on
 * without a name it does not recognize).
 */
const SERVERNAME_CALLBACK = new Deno.UnsafeCallback(
  { parameters: ["pointer", "pointer", "pointer"], result: "i32" } as const,
  (ssl, _alert, _arg) => {
    try {
      if (ssl) SNI_HANDSHAKE.transport?.chooseContext(ssl);
    } catch {
      takeSslError(); // the default certificate it is
    }
    return SSL_TLSEXT_ERR_OK;
  },
).pointer;

/**
 * Makes `context` (the default of several, the one each SSL begins with) call the servername
 * callback, which moves each connection to the context its server chooses for the name asked
 * (TlsTransportOptions.chooseContext). The contexts SNI moves to need no callback of their own.
 * @throws {Error} when OpenSSL refuses the callback (it only stores it)
 */
export function chooseContextsByName(context: TlsContext): void {
  const set = SSL_CTX_callback_ctrl(context.pointer, SSL_CTRL.SET_TLSEXT_SERVERNAME_CB, SERVERNAME_CALLBACK);
  if (Number(set) <= 0) {
    throw new Error(`Cannot set the servername callback: ${sslErrorReason(takeSslError())}`);
  }
}

/**
 * The first of `contexts` whose certificate was issued for `name` (TlsContext.issuedFor), or
 * null. The list is the operator's (--cert pairs), so the cost is bounded by configuration,
 * not by clients: one X509_check_host per pair, a few µs against a handshake's ~1 ms.
 * @param name the C string SSL_get_servername returned
 */
export function contextForName(contexts: readonly TlsContext[], name: Deno.PointerObject): TlsContext | null {
  for (const context of contexts) if (context.issuedFor(name)) return context;
  return null;
}
