// New connections from a load balancer, before their protocol starts: a source not trusted is
// closed; from a trusted one the PROXY header (app/transport/proxy_protocol.ts) is awaited under a
// deadline, exactly its bytes are taken from the socket, and the descriptor goes back to the
// server with the client's address. It looks with MSG_PEEK and reads only the header, so whatever
// follows (a request, a ClientHello) stays in the kernel for the session.

import { peekFd, peerAddress, readFd } from "../../ffi/socket.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { EPOLLIN, libc } from "../../ffi/libc.ts";
import { EAGAIN } from "../../ffi/errno_numbers.ts";
import { errnoName } from "../../ffi/errno.ts";
import type { IoHandler, Reactor } from "../../loop/reactor.ts";
import type { Timer } from "../../loop/timers.ts";
import { INCOMPLETE, parseProxyHeader, PROXY_HEADER_MAX } from "./proxy_protocol.ts";
import type { TrustedProxies } from "./trusted_proxies.ts";

const { close } = libc.symbols;

/** One buffer for every wait: a header is parsed whole from a peek, in one turn. */
const PEEKED = new Uint8Array(PROXY_HEADER_MAX);

/** The client a PROXY header named, and the balancer that sent it (`host:port`). */
export interface Proxied {
  client: { host: string; port: number };
  via: string;
}

/** What the server hears from the gate. */
export interface ProxyGateHooks {
  /**
   * The header arrived: the descriptor (out of the reactor, still open) is the server's again.
   * @param proxied the client it named, or null to use the real peer (v2 LOCAL, v1 UNKNOWN)
   */
  passed(fd: number, proxied: Proxied | null): void;
  /**
   * A connection was closed at the gate: `kind` is a client that left (`proxy header: peer
   * closed`) or an error to count (untrusted source, malformed, too long, too slow).
   */
  closed(kind: string, clientLeft: boolean): void;
}

/**
 * Where every accepted connection of a --proxy-protocol listener waits for its header; the
 * server counts the ones here as open.
 */
export class ProxyHeaderGate {
  #waits = new Set<ProxyHeaderWait>();
  #trusted: TrustedProxies;
  #reactor: Reactor;
  #timeoutMs: number;
  #hooks: ProxyGateHooks;
  #waitHooks: ProxyWaitHooks = {
    done: (wait, source) => {
      this.#waits.delete(wait);
      const { host, port } = wait.balancer;
      this.#hooks.passed(wait.fd, source && { client: source, via: formatAuthority(host, port) });
    },
    failed: (wait, kind, clientLeft) => {
      this.#waits.delete(wait);
      this.#hooks.closed(kind, clientLeft);
    },
  };

  /**
   * @param trusted the sources allowed to send a header
   * @param timeoutMs how long a whole header may take
   */
  constructor(trusted: TrustedProxies, reactor: Reactor, timeoutMs: number, hooks: ProxyGateHooks) {
    this.#trusted = trusted;
    this.#reactor = reactor;
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  /** Connections waiting for their header. */
  get size(): number {
    return this.#waits.size;
  }

  /** Takes an accepted socket: the hooks hear how it ends, perhaps before this returns. */
  accept(fd: number): void {
    const balancer = peerAddress(fd);
    if (!this.#trusted.trusts(balancer.host)) {
      close(fd);
      return this.#hooks.closed("proxy untrusted source", false);
    }
    const wait = new ProxyHeaderWait(fd, balancer, this.#reactor, this.#waitHooks);
    this.#waits.add(wait);
    wait.start(this.#timeoutMs);
  }

  /** Closes every connection still waiting, without a word to the hooks (shutdown). */
  closeAll(): void {
    for (const wait of this.#waits) wait.close();
    this.#waits.clear();
  }
}

/** What the gate hears once a wait ends. */
interface ProxyWaitHooks {
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

/** A connection waiting for its PROXY header (start() registers it with the reactor if need be). */
class ProxyHeaderWait implements IoHandler {
  readonly fd: number;
  /** The socket's peer: the balancer. */
  readonly balancer: { host: string; port: number };
  #reactor: Reactor;
  #hooks: ProxyWaitHooks;
  #deadline: Timer | null = null;
  #registered = false;
  #over = false;
  /** Header bytes already taken from the socket (a header that came in pieces). */
  #partial: Uint8Array | null = null;
  #have = 0;

  /**
   * @param fd an accepted socket from a trusted source, which this object owns until done()
   * @param balancer the socket's peer
   */
  constructor(fd: number, balancer: { host: string; port: number }, reactor: Reactor, hooks: ProxyWaitHooks) {
    this.fd = fd;
    this.balancer = balancer;
    this.#reactor = reactor;
    this.#hooks = hooks;
  }

  /**
   * Takes the header at once when it is here (TCP_DEFER_ACCEPT: usually, and then the socket
   * never enters the reactor for it); else waits for it there, under a deadline. Either way the
   * hooks hear how it ended, perhaps before this returns.
   * @param timeoutMs how long the whole header may take
   */
  start(timeoutMs: number): void {
    this.onEvents();
    if (this.#over) return;
    const err = this.#reactor.add(this.fd, EPOLLIN, this);
    if (err) return this.#fail(`epoll_ctl ${errnoName(-err)}`, false);
    this.#registered = true;
    this.#deadline = this.#reactor.timer(() => this.#fail("proxy header timeout", false));
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
    if (this.#registered) this.#reactor.remove(this.fd);
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
    if (this.#registered) this.#reactor.forget(this.fd);
    close(this.fd);
  }

  #end(): void {
    this.#over = true;
    this.#deadline?.dispose();
  }

  #fail(kind: string, clientLeft: boolean): void {
    if (this.#over) return;
    this.close();
    this.#hooks.failed(this, kind, clientLeft);
  }
}
