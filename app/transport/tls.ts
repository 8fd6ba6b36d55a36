// HTTPS for one server: the TLS context built from --cert and --key, the transports that use
// it, and SIGHUP's reload, which replaces the context for new connections only. Imported only
// when --cert is given, so a plain-HTTP rawserve never loads OpenSSL.

import type { Reactor } from "../../loop/reactor.ts";
import { StartupError } from "../../ffi/errno.ts";
import { kernelTlsAvailable, TlsContext, type TlsFiles } from "./tls_context.ts";
import { TICKET_STATE_LENGTH, TicketKeyRing } from "./ticket_keys.ts";
import { type TlsHooks, TlsTransport } from "./tls_transport.ts";
import type { TlsAcceptor } from "../server.ts";

export { kernelTlsAvailable, TicketKeyRing, TlsContext };

/**
 * The environment variable that tells a worker its supervisor's ticket-key state waits on its
 * stdin (value `stdin`). The state itself never goes into the environment: a process's initial
 * environment stays readable in /proc/PID/environ whatever the process does later.
 */
export const TICKET_KEYS_ENV = "RAWSERVE_TLS_TICKET_KEYS";
export const TICKET_KEYS_ON_STDIN = "stdin";

/** What HTTPS needs from the command line (files) or from serve()'s options (PEM text). */
export interface TlsConfig extends TlsFiles {
  handshakeTimeoutMs: number;
  /** Session tickets (--tls-tickets); off, no session is resumed. */
  tickets: boolean;
  /** `cert` and `key` hold PEM text rather than file paths (serve(), as Deno.serve takes them). */
  pem?: boolean;
  /** Offer HTTP/2 by ALPN (`h2`, then `http/1.1`); default true. */
  http2?: boolean;
}

/** The TLS side of one server: the current context, and how to wrap sockets with it. */
export class TlsServer implements TlsAcceptor, Disposable {
  #config: TlsConfig;
  #ticketKeys: TicketKeyRing;
  #ktls: boolean;
  #context: TlsContext;

  /**
   * @param config the files and the handshake deadline
   * @param ticketKeys session-ticket keys shared with the other workers (default: fresh ones)
   * @throws {StartupError} when the files cannot be used (one line that says why)
   */
  constructor(config: TlsConfig, ticketKeys: TicketKeyRing = TicketKeyRing.fresh()) {
    this.#config = config;
    this.#ticketKeys = ticketKeys;
    this.#ktls = kernelTlsAvailable();
    this.#context = this.#load();
  }

  #load(): TlsContext {
    const config = this.#config;
    const options = {
      ticketKeys: this.#ticketKeys,
      ktls: this.#ktls,
      tickets: config.tickets,
      http2: config.http2 !== false,
    };
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
      context: this.#context,
      ktls: this.#ktls,
      handshakeTimeoutMs: this.#config.handshakeTimeoutMs,
      hooks,
    });
  }

  /**
   * Loads the certificate and key again (SIGHUP). Connections already accepted keep the context
   * they began with (each holds a reference to it from accept on, and its SSL object another);
   * new ones get the new pair. A pair that
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
 * The ticket keys a supervisor gave this worker (its ring's state, on stdin), or null. Reads
 * stdin to its end and closes it.
 * @throws {StartupError} when the state is malformed
 */
export function inheritedTicketKeys(): TicketKeyRing | null {
  const where = Deno.env.get(TICKET_KEYS_ENV);
  if (where === undefined) return null;
  Deno.env.delete(TICKET_KEYS_ENV); // nothing this process starts has the state on its stdin
  if (where !== TICKET_KEYS_ON_STDIN) throw new StartupError(`${TICKET_KEYS_ENV} must be "stdin"`);
  const state = new Uint8Array(TICKET_STATE_LENGTH);
  let got = 0;
  for (;;) {
    const n = Deno.stdin.readSync(got < state.length ? state.subarray(got) : new Uint8Array(1));
    if (n === null) break;
    got += n;
    if (got > state.length) break;
  }
  Deno.stdin.close();
  if (got !== state.length) {
    throw new StartupError(`${TICKET_KEYS_ENV}: expected ${TICKET_STATE_LENGTH} bytes of state on stdin`);
  }
  return TicketKeyRing.fromBytes(state);
}
