// HTTPS for one server: the TLS context built from --cert and --key, the transports that use
// it, and SIGHUP's reload, which replaces the context for new connections only. Imported only
// when --cert is given, so a plain-HTTP rawserve never loads OpenSSL.

import type { Reactor } from "../../loop/reactor.ts";
import { StartupError } from "../../ffi/errno.ts";
import { TICKET_KEYS_LENGTH } from "../../ffi/libssl.ts";
import { kernelTlsAvailable, newTicketKeys, TlsContext, type TlsFiles } from "./tls_context.ts";
import { type TlsHooks, TlsTransport } from "./tls_transport.ts";
import type { TlsAcceptor } from "../server.ts";

export { kernelTlsAvailable, newTicketKeys, TlsContext };

/** The environment variable a supervisor passes its ticket keys to its workers in (hex). */
export const TICKET_KEYS_ENV = "RAWSERVE_TLS_TICKET_KEYS";

/** What HTTPS needs from the command line (files) or from serve()'s options (PEM text). */
export interface TlsConfig extends TlsFiles {
  handshakeTimeoutMs: number;
  /** Session tickets (--tls-tickets); off, no session is resumed. */
  tickets: boolean;
  /** `cert` and `key` hold PEM text rather than file paths (serve(), as Deno.serve takes them). */
  pem?: boolean;
}

/** The TLS side of one server: the current context, and how to wrap sockets with it. */
export class TlsServer implements TlsAcceptor, Disposable {
  #config: TlsConfig;
  #ticketKeys: Uint8Array;
  #ktls: boolean;
  #context: TlsContext;

  /**
   * @param config the files and the handshake deadline
   * @param ticketKeys session-ticket keys shared with the other workers (default: fresh ones)
   * @throws {StartupError} when the files cannot be used (one line that says why)
   */
  constructor(config: TlsConfig, ticketKeys: Uint8Array = newTicketKeys()) {
    this.#config = config;
    this.#ticketKeys = ticketKeys;
    this.#ktls = kernelTlsAvailable();
    this.#context = this.#load();
  }

  #load(): TlsContext {
    const config = this.#config;
    const options = { ticketKeys: this.#ticketKeys, ktls: this.#ktls, tickets: config.tickets };
    return config.pem ? TlsContext.fromPem(config, options) : TlsContext.load(config, options);
  }

  /** The context new connections use. */
  get context(): TlsContext {
    return this.#context;
  }

  /** Whether kernel TLS is asked for (the tls ULP is loaded). */
  get ktls(): boolean {
    return this.#ktls;
  }

  wrap(fd: number, reactor: Reactor, hooks: TlsHooks): TlsTransport {
    return new TlsTransport(fd, reactor, {
      context: this.#context.pointer,
      ktls: this.#ktls,
      handshakeTimeoutMs: this.#config.handshakeTimeoutMs,
      hooks,
    });
  }

  /**
   * Loads the certificate and key again (SIGHUP). Connections already made keep the context they
   * began with (each SSL object holds a reference to it); new ones get the new pair. A pair that
   * cannot be used leaves the old one in place.
   * @returns one line for the log
   */
  reload(): string {
    let next: TlsContext;
    try {
      next = this.#load();
    } catch (e) {
      if (!(e instanceof StartupError)) throw e;
      return `SIGHUP: kept the previous certificate: ${e.message}`;
    }
    this.#context[Symbol.dispose]();
    this.#context = next;
    const warnings = next.warnings();
    const what = this.#config.pem ? "the certificate" : this.#config.cert;
    return `SIGHUP: reloaded ${what} (${next.subject}, valid until ${
      next.notAfter?.toISOString().slice(0, 10) ?? "?"
    })` + (warnings.length ? `; warning: ${warnings.join("; ")}` : "");
  }

  /** Frees the current context (connections still open hold their own references). */
  [Symbol.dispose](): void {
    this.#context[Symbol.dispose]();
  }
}

/**
 * The ticket keys a supervisor gave this worker, or null.
 * @throws {StartupError} when the variable is malformed
 */
export function inheritedTicketKeys(): Uint8Array | null {
  const hex = Deno.env.get(TICKET_KEYS_ENV);
  if (hex === undefined) return null;
  Deno.env.delete(TICKET_KEYS_ENV); // a secret: nothing this process starts needs it
  if (!/^[0-9a-f]+$/.test(hex) || hex.length !== TICKET_KEYS_LENGTH * 2) {
    throw new StartupError(`${TICKET_KEYS_ENV} must hold ${TICKET_KEYS_LENGTH} bytes in hex`);
  }
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

/** Ticket keys as the hex a worker's environment carries. */
export function ticketKeysHex(keys: Uint8Array): string {
  return Array.from(keys, (b) => b.toString(16).padStart(2, "0")).join("");
}
