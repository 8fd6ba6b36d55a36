// HTTPS for one server: the TLS contexts built from --cert and --key (one per pair; with several,
// SNI chooses, RFC 6066), the transports that use them, and SIGHUP's reload, which replaces them
// all for new connections only. Imported only when --cert is given, so a plain-HTTP rawserve
// never loads OpenSSL.

import type { Reactor } from "../../loop/reactor.ts";
import { StartupError } from "../../ffi/errno.ts";
import { kernelTlsAvailable, TlsContext, type TlsFiles } from "./tls_context.ts";
import { TICKET_STATE_LENGTH, TicketKeyRing } from "./ticket_keys.ts";
import { type TlsHooks, TlsTransport, type TlsTransportOptions } from "./tls_transport.ts";
import { chooseContextsByName, contextForName } from "./sni.ts";
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
  /**
   * More pairs (files), for other names: a client asking by SNI for a name one of them was
   * issued for gets it (the first that covers it, `cert` and `key` first of all); any other
   * client gets `cert` and `key`.
   */
  others?: TlsFiles[];
  /** Offer HTTP/2 by ALPN (`h2`, then `http/1.1`) on every pair's context; default true. */
  http2?: boolean;
}

/** The TLS side of one server: the current contexts, and how to wrap sockets with them. */
export class TlsServer implements TlsAcceptor, Disposable {
  #config: TlsConfig;
  #ticketKeys: TicketKeyRing;
  #ktls: boolean;
  /** The default pair's context first, then the others', in the order given. */
  #contexts: TlsContext[];
  /** SNI's choice among the current contexts; null with one pair. */
  #choose: ((name: Deno.PointerObject) => TlsContext | null) | null;

  /**
   * @param config the files and the handshake deadline
   * @param ticketKeys session-ticket keys shared with the other workers (default: fresh ones)
   * @throws {StartupError} when the files cannot be used (one line that says why)
   */
  constructor(config: TlsConfig, ticketKeys: TicketKeyRing = TicketKeyRing.fresh()) {
    this.#config = config;
    this.#ticketKeys = ticketKeys;
    this.#ktls = kernelTlsAvailable();
    this.#contexts = this.#load();
    // Read at each handshake: after a reload, the new contexts.
    this.#choose = config.others?.length ? (name) => contextForName(this.#contexts, name) : null;
  }

  /**
   * Builds every pair's context, or none: a pair that cannot be used frees those built before it.
   * @throws {StartupError} naming the pair that cannot be used
   */
  #load(): TlsContext[] {
    const config = this.#config;
    const options = {
      ticketKeys: this.#ticketKeys,
      ktls: this.#ktls,
      tickets: config.tickets,
      // Every pair's context: SNI may switch to any of them before ALPN runs.
      http2: config.http2 !== false,
    };
    const contexts = [config.pem ? TlsContext.fromPem(config, options) : TlsContext.load(config, options)];
    try {
      for (const files of config.others ?? []) contexts.push(TlsContext.load(files, options));
      if (contexts.length > 1) chooseContextsByName(contexts[0]!);
    } catch (e) {
      for (const context of contexts) context[Symbol.dispose]();
      throw e;
    }
    return contexts;
  }

  /** The context new connections begin with (the default pair's). */
  get context(): TlsContext {
    return this.#contexts[0]!;
  }

  /** Every pair's context, the default first (to report their certificates). */
  get contexts(): readonly TlsContext[] {
    return this.#contexts;
  }

  /** Whether kernel TLS is asked for (the tls ULP is loaded). */
  get ktls(): boolean {
    return this.#ktls;
  }

  wrap(fd: number, reactor: Reactor, hooks: TlsHooks): TlsTransport {
    const options: TlsTransportOptions = {
      context: this.#contexts[0]!,
      ktls: this.#ktls,
      handshakeTimeoutMs: this.#config.handshakeTimeoutMs,
      hooks,
    };
    if (this.#choose) options.chooseContext = this.#choose;
    return new TlsTransport(fd, reactor, options);
  }

  /**
   * Loads every certificate and key again (SIGHUP). Connections already accepted keep the
   * contexts they began with or SNI moved them to (each holds a reference to them, and its SSL
   * object another); new ones get the new pairs. One pair that cannot be used leaves all the
   * old ones in place.
   * @returns one line for the log
   */
  reload(): string {
    let next: TlsContext[];
    try {
      next = this.#load();
    } catch (e) {
      if (!(e instanceof StartupError)) throw e;
      return `SIGHUP: kept the previous certificate${this.#contexts.length > 1 ? "s" : ""}: ${e.message}`;
    }
    for (const context of this.#contexts) context[Symbol.dispose]();
    this.#contexts = next;
    const files = [this.#config, ...this.#config.others ?? []];
    const described = next.map((context, i) => {
      const what = this.#config.pem ? "the certificate" : files[i]!.cert;
      const warnings = context.warnings();
      return `${what} (${context.subject}, valid until ${
        context.notAfter?.toISOString().slice(0, 10) ?? "?"
      })` +
        (warnings.length ? `; warning: ${warnings.join("; ")}` : "");
    });
    return `SIGHUP: reloaded ${described.join(", ")}`;
  }

  /** Frees the current contexts (connections still open hold their own references). */
  [Symbol.dispose](): void {
    for (const context of this.#contexts) context[Symbol.dispose]();
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
