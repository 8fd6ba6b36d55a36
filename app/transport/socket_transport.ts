// A connected TCP socket as a connection's Transport and as the reactor's handler for its fd.
// It owns the descriptor: it leaves the reactor and is closed exactly once.

import { peerAddress, recvFd, sendFd, sendFile, shutdownWrite } from "../../ffi/socket.ts";
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, libc } from "../../ffi/libc.ts";
import type { IoHandler, Reactor } from "../../loop/reactor.ts";
import type { Session, Transport } from "../../http/types.ts";

const { close } = libc.symbols;

/**
 * Who hears that a transport closed: the server, one object for all its transports (a closure
 * per connection would cost every idle connection its size).
 */
export interface TransportOwner {
  transportClosed(transport: { readonly connection: Session | null }): void;
}

/** A TCP socket seen by a Connection as its Transport, and by the reactor as an IoHandler. */
export class SocketTransport implements Transport, IoHandler, Disposable {
  /** The connection this socket carries (set right after both exist). */
  connection: Session | null = null;
  /** Hears once that the socket is closed, by whichever session owned it (the server counts it). */
  owner: TransportOwner | null = null;
  #fd: number;
  #reactor: Reactor;
  #interest = EPOLLIN;
  #closed = false;
  #remote: { host: string; port: number } | null = null;
  /** The load balancer's address (`host:port`) when a PROXY header named the client, else null. */
  via: string | null = null;

  /**
   * @param fd an accepted, non-blocking socket this object now owns
   * @param reactor the reactor it is registered with (by the caller)
   */
  constructor(fd: number, reactor: Reactor) {
    this.#fd = fd;
    this.#reactor = reactor;
  }

  /** The socket's descriptor. */
  get fd(): number {
    return this.#fd;
  }

  onEvents(events: number): void {
    const conn = this.connection!;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn.onReadable();
    if (events & EPOLLOUT) conn.onWritable();
  }

  read(buf: Uint8Array, length: number): number {
    return recvFd(this.#fd, buf, length);
  }

  write(buf: Uint8Array, length: number): number {
    return sendFd(this.#fd, buf, length);
  }

  sendfile(fileFd: number, offset: number, count: number): number {
    return sendFile(this.#fd, fileFd, offset, count);
  }

  setInterest(readable: boolean, writable: boolean): void {
    const events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (events === this.#interest) return;
    this.#interest = events;
    this.#reactor.modify(this.#fd, events);
  }

  shutdownWrite(): void {
    shutdownWrite(this.#fd);
  }

  /**
   * The client named by a PROXY header, in place of the socket's peer (the balancer), which
   * `via` keeps for the status page.
   */
  setPeer(client: { host: string; port: number }, via: string): void {
    this.#remote = client;
    this.via = via;
  }

  remoteAddress(): string {
    return (this.#remote ??= peerAddress(this.#fd)).host;
  }

  remotePort(): number {
    return (this.#remote ??= peerAddress(this.#fd)).port;
  }

  close(): void {
    this[Symbol.dispose]();
  }

  /** Leaves the reactor and closes the socket, once. */
  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reactor.forget(this.#fd);
    // close(2) also removes the fd from the epoll set; it releases the fd even on EINTR.
    close(this.#fd);
    this.owner?.transportClosed(this);
  }
}
