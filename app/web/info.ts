// What a fetch handler gets beside the request (Deno.ServeHandlerInfo's shape): the client's
// address, and a promise that settles when the response is done. It observes the engine's
// request, so it also knows when the client left early: that aborts request.signal.

import type { HttpRequest, ResponseObserver } from "../../http/types.ts";

/**
 * A Unix socket's address, as Deno.UnixAddr has it: what `onListen` gets for `serve({ path })`.
 * @example
 * ```ts
 * import type { UnixAddr } from "@rawserve/rawserve";
 * const where = (addr: UnixAddr) => `unix:${addr.path}`;
 * ```
 */
export interface UnixAddr {
  /** Always "unix". */
  transport: "unix";
  /** The socket file's path. */
  path: string;
}

/**
 * The address of a TCP peer, as Deno.NetAddr has it (a peer on a Unix socket has the hostname
 * `unix:` and port 0, as nginx's `$remote_addr` writes it).
 * @example
 * ```ts
 * import type { NetAddr } from "@rawserve/rawserve";
 * const where = (addr: NetAddr) => `${addr.hostname}:${addr.port}`;
 * ```
 */
export interface NetAddr {
  /** Always "tcp". */
  transport: "tcp";
  /** The IP address as text, e.g. `127.0.0.1` or `::1`. */
  hostname: string;
  /** The port. */
  port: number;
}

/**
 * What a handler gets beside the request (Deno.ServeHandlerInfo's shape).
 * @example
 * ```ts
 * import { serve, type ServeHandlerInfo } from "@rawserve/rawserve";
 * serve((request: Request, info: ServeHandlerInfo) => {
 *   const started = performance.now();
 *   info.completed.then(() => console.log(`${request.url} done in ${performance.now() - started} ms`));
 *   return new Response(`hello ${info.remoteAddr.hostname}`);
 * });
 * ```
 */
export interface ServeHandlerInfo {
  /** The client's address and port. */
  readonly remoteAddr: NetAddr;
  /**
   * Settles (resolves) once the response is done: its last byte taken by the kernel, or the
   * connection gone first, in which case `request.signal` is aborted too. It never rejects.
   */
  readonly completed: Promise<void>;
}

const PENDING = 0, WRITTEN = 1, CUT = 2;

/** Why request.signal aborts: the client went away before the response was written. */
const CLIENT_LEFT = new DOMException("The client disconnected before the response was sent", "AbortError");

/** Information about one request for its handler; it hears how the response ended. */
export class HandlerInfo implements ServeHandlerInfo, ResponseObserver {
  #http: HttpRequest;
  #outcome = PENDING;
  #completed: PromiseWithResolvers<void> | null = null;
  #abort: AbortController | null = null;

  /** @param http the engine's request; this object becomes its response observer */
  constructor(http: HttpRequest) {
    this.#http = http;
    http.observer = this;
  }

  /** The client's address and port. */
  get remoteAddr(): NetAddr {
    const peer = this.#http.peer;
    return { transport: "tcp", hostname: peer.remoteAddress(), port: peer.remotePort() };
  }

  /**
   * Settles (resolves) once the response is done: its last byte taken by the kernel, or the
   * connection gone first (then request.signal is aborted too). It never rejects, so code that
   * ignores it cannot crash the process with an unhandled rejection.
   */
  get completed(): Promise<void> {
    if (!this.#completed) {
      this.#completed = Promise.withResolvers();
      if (this.#outcome !== PENDING) this.#completed.resolve();
    }
    return this.#completed.promise;
  }

  /** request.signal: made on first read; aborted if the client leaves before the response is written. */
  signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#outcome === CUT) this.#abort.abort(CLIENT_LEFT);
    }
    return this.#abort.signal;
  }

  /** The engine: the response was written (true) or the connection closed first (false). */
  responseDone(ok: boolean): void {
    if (this.#outcome !== PENDING) return;
    this.#outcome = ok ? WRITTEN : CUT;
    this.#completed?.resolve();
    // Abort listeners are the application's code: run them outside the engine's write loop.
    if (!ok && this.#abort) queueMicrotask(() => this.#abort!.abort(CLIENT_LEFT));
  }
}
