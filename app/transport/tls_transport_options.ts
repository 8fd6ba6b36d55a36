// What a TLS transport and its server tell each other: the server's hooks (the handshake is done,
// or the connection ended before HTTP) and the options a transport is made with.

import type { TlsContext } from "./tls_context.ts";
import type { TlsTransport } from "./tls_transport.ts";

/** What the server learns from a TLS connection before it carries HTTP. */
export interface TlsHooks {
  /** The handshake is done: make the Connection, set `transport.connection`, read. */
  established(transport: TlsTransport): void;
  /**
   * The connection ended before it carried HTTP; it is closed already.
   * @param kind an error counter to add to (a bounded set of names), or null for none
   */
  ended(transport: TlsTransport, kind: string | null): void;
}

/** What a TLS connection needs from its server. */
export interface TlsTransportOptions {
  /**
   * The context of the moment (a reload changes it for new connections only). The transport
   * retains it at once and releases it when closed: SSL_new runs only at the first byte, which
   * may come after a reload has dropped the server's reference.
   */
  context: TlsContext;
  /** The whole handshake must be done within this. */
  handshakeTimeoutMs: number;
  /** Whether to look for kernel TLS after the handshake (the context asked for it). */
  ktls: boolean;
  hooks: TlsHooks;
  /**
   * The context for the name a client asks for by SNI (RFC 6066 §3), or null to stay on
   * `context` (the default). Called inside the handshake with the name as OpenSSL holds it (a C
   * string, valid during the call); what it returns must not be disposed yet (the server's
   * current contexts). Absent: one certificate, and no name is looked at.
   */
  chooseContext?: (name: Deno.PointerObject) => TlsContext | null;
}
