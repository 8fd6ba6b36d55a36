// A new connection from a load balancer, before its protocol starts: waits, under a deadline, for
// the PROXY header (app/transport/proxy_protocol.ts), takes exactly its bytes from the socket and
// hands the descriptor on with the client's address. It looks with MSG_PEEK and reads only the
// header, so whatever follows (a request, a ClientHello) stays in the kernel for the session.

import { peekFd, readFd } from "../../ffi/socket.ts";
import { libc } from "../../ffi/libc.ts";
import { EAGAIN } from "../../ffi/errno_numbers.ts";
import { errnoName } from "../../ffi/errno.ts";
import type { IoHandler, Reactor } from "../../loop/reactor.ts";
import type { Timer } from "../../loop/timers.ts";
import { INCOMPLETE, parseProxyHeader, PROXY_HEADER_MAX } from "./proxy_protocol.ts";

const { close } = libc.symbols;

/** One buffer for every wait: a header is parsed whole from a peek, in one turn. */
const PEEKED = new Uint8Array(PROXY_HEADER_MAX);

/** What the server hears once a wait ends. */
export interface ProxyWaitHooks {
  /**
   * The header arrived: the descriptor (out of the reactor, still open) is the server's again.
   * @param source the client's address, or null to use the real peer (v2 LOCAL, v1 UNKNOWN)
   */
  done(wait: ProxyHeaderWait, source: { host: string; port: number } | null): void;
  /**
   * The connection was closed: `kind` is a client that left (`proxy header: peer closed`) or
   * an error to count (malformed, too long, too slow).
   */
  failed(wait: ProxyHeaderWait, kind: string, clientLeft: boolean): void;
}

/** A connection waiting for its PROXY header; registered with the reactor by its creator. */
export class ProxyHeaderWait implements IoHandler {
  readonly fd: number;
  #reactor: Reactor;
  #hooks: ProxyWaitHooks;
  #deadline: Timer;
  #over = false;
  /** Header bytes already taken from the socket (a header that came in pieces). */
  #partial: Uint8Array | null = null;
  #have = 0;

  /**
   * @param fd an accepted socket from a trusted source, which this object owns until done()
   * @param timeoutMs how long the whole header may take
   */
  constructor(fd: number, reactor: Reactor, hooks: ProxyWaitHooks, timeoutMs: number) {
    this.fd = fd;
    this.#reactor = reactor;
    this.#hooks = hooks;
    this.#deadline = reactor.timer(() => this.#fail("proxy header timeout", false));
    this.#deadline.arm(timeoutMs);
  }

  onEvents(): void {
    if (this.#over) return;
    const have = this.#have;
    if (have > 0) PEEKED.set(this.#partial!.subarray(0, have));
    const n = peekFd(this.fd, PEEKED.subarray(have), PEEKED.length - have);
    if (n === -EAGAIN) return;
    if (n < 0) return this.#fail(`proxy header: ${errnoName(-n)}`, true);
    if (n === 0) return this.#fail("proxy header: peer closed", true);
    const parsed = parseProxyHeader(PEEKED, 0, have + n);
    if (parsed === INCOMPLETE) return this.#keep(n);
    if ("error" in parsed) return this.#fail(parsed.error, false);
    // Take exactly the rest of the header; the peek saw it, so one read returns it all.
    const rest = parsed.consumed - have;
    if (readFd(this.fd, PEEKED, rest) !== rest) return this.#fail("proxy header: read failed", false);
    this.#end();
    this.#reactor.remove(this.fd);
    this.#hooks.done(this, parsed.source);
  }

  /**
   * An incomplete header: every byte seen belongs to it, so take them out of the socket (else
   * level-triggered epoll would wake us again at once) and keep them. Only a slow balancer pays
   * for the copy.
   */
  #keep(n: number): void {
    this.#partial ??= new Uint8Array(PROXY_HEADER_MAX);
    const taken = readFd(this.fd, this.#partial.subarray(this.#have), n);
    if (taken !== n) return this.#fail("proxy header: read failed", false);
    this.#have += n;
  }

  /** Closes the connection without counting it (shutdown). */
  close(): void {
    if (this.#over) return;
    this.#end();
    this.#reactor.forget(this.fd);
    close(this.fd);
  }

  #end(): void {
    this.#over = true;
    this.#deadline.dispose();
  }

  #fail(kind: string, clientLeft: boolean): void {
    if (this.#over) return;
    this.close();
    this.#hooks.failed(this, kind, clientLeft);
  }
}
