// The epoll backend: one epoll instance and its event buffer, and nothing else (Redis's
// ae_epoll.c in spirit). It adds, modifies and removes interest and polls into a preallocated
// buffer; what to do with the events and when to block is the reactor's business.

import {
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_EVENT_SIZE,
  lastErrno,
  libc,
} from "../ffi/libc.ts";
import { SyscallError } from "../ffi/errno.ts";
import { OwnedFd } from "../ffi/socket.ts";

const { epoll_create1, epoll_ctl, epoll_wait, epoll_wait_blocking } = libc.symbols;

/** Events fetched per epoll_wait: enough for a full batch under load, 768 bytes of buffer. */
export const MAX_EVENTS = 64;

/** An epoll instance with its event buffer. */
export class Epoll implements Disposable {
  #ep: OwnedFd;
  #buf = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  /**
   * The fired events, three u32 words each: `struct epoll_event` is packed on x86-64 (12 bytes),
   * so word 0 is the event mask and word 1 the low half of `data`, where the fd is kept.
   */
  readonly words: Uint32Array = new Uint32Array(this.#buf.buffer);
  #ctl = new Uint8Array(EPOLL_EVENT_SIZE);
  #ctlWords = new Uint32Array(this.#ctl.buffer);

  /** @throws {SyscallError} if the epoll instance cannot be created */
  constructor() {
    const ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) throw new SyscallError("epoll_create1", lastErrno(), "Cannot create an epoll instance");
    this.#ep = new OwnedFd(ep);
  }

  /** The epoll descriptor. */
  get fd(): number {
    return this.#ep.fd;
  }

  #ctlCall(op: number, fd: number, events: number): number {
    this.#ctlWords[0] = events;
    this.#ctlWords[1] = fd;
    this.#ctlWords[2] = 0;
    return epoll_ctl(this.#ep.fd, op, fd, this.#ctl) < 0 ? -lastErrno() : 0;
  }

  /** @returns 0 or -errno */
  add(fd: number, events: number): number {
    return this.#ctlCall(EPOLL_CTL_ADD, fd, events);
  }

  /** @returns 0 or -errno */
  modify(fd: number, events: number): number {
    return this.#ctlCall(EPOLL_CTL_MOD, fd, events);
  }

  /** @returns 0 or -errno */
  remove(fd: number): number {
    return this.#ctlCall(EPOLL_CTL_DEL, fd, 0);
  }

  /**
   * Polls without blocking (~0.3 µs as a synchronous FFI call).
   * @returns the number of events in `words`; 0 on EINTR
   */
  poll(): number {
    return Math.max(0, epoll_wait(this.#ep.fd, this.#buf, MAX_EVENTS, 0));
  }

  /**
   * Blocks this thread up to `timeoutMs` (a synchronous call: Deno's event loop waits meanwhile,
   * so the reactor uses it only when nothing else needs that loop).
   * @returns the number of events in `words`; 0 on timeout or EINTR
   */
  wait(timeoutMs: number): number {
    return Math.max(0, epoll_wait(this.#ep.fd, this.#buf, MAX_EVENTS, timeoutMs));
  }

  /**
   * Blocks up to `timeoutMs` on Deno's thread pool, leaving Deno's event loop free meanwhile.
   * @returns the number of events in `words`; 0 on timeout or EINTR
   */
  async pollBlocking(timeoutMs: number): Promise<number> {
    return Math.max(0, await epoll_wait_blocking(this.#ep.fd, this.#buf, MAX_EVENTS, timeoutMs));
  }

  /** Closes the epoll instance. */
  [Symbol.dispose](): void {
    this.#ep[Symbol.dispose]();
  }
}
