// The reactor: one epoll instance, an fd-indexed handler table, timers and the wait strategy.
// Level-triggered. Interest changes reach the kernel only when they change, and events for a
// descriptor closed earlier in the same batch are dropped (its number may already be reused).

import {
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
  lastErrno,
  libc,
} from "../ffi/libc.ts";
import { SyscallError } from "../ffi/errno.ts";
import { makeEventFd, OwnedFd, readFd, writeFd } from "../ffi/socket.ts";
import { Timer, TimerHeap } from "./timers.ts";
import { setImmediate } from "node:timers";

const { epoll_create1, epoll_ctl, epoll_wait, epoll_wait_blocking } = libc.symbols;

/** Events fetched per epoll_wait: enough for a full batch under load, 768 bytes of buffer. */
export const MAX_EVENTS = 64;

/**
 * How long the reactor may run I/O batches back to back before it gives Deno's event loop a
 * macrotask turn (timers, signal listeners, async ops); 0 means after every batch. Between
 * batches it always drains microtasks (`await null`, ~0.04 µs), so promise continuations of
 * handlers run at once either way.
 *
 * Measured 2026-11-24 (wrk -t1 -c50, embedded page, server pinned to CPU 0, wrk to CPU 1,
 * server CPU from /proc/PID/stat, medians of alternating runs; scripts/wait_bench.ts):
 *   turn after every batch:         4.72 and 4.85 µs/request in two sessions, p99 ~0.5 ms
 *   turn at most once per 1 ms:     4.88 and 4.77 µs/request, p99 up to 3 ms
 * The difference is within the noise: the turn (~2.2 µs) is shared by a whole batch of
 * events, and while Deno's loop runs more events gather, so batches grow. Yielding every batch
 * is as cheap and keeps timers and signals prompt. MessageChannel (~4.4 µs a round trip) is
 * dearer than setImmediate, and the awaited nonblocking epoll_wait (~50 µs) is kept for the
 * idle path only.
 */
export const YIELD_INTERVAL_MS = 0;

/**
 * Most empty polls (each followed by a setImmediate turn) before the reactor blocks. Blocking
 * goes through Deno's thread pool (~50 µs per wake-up), so a short spin keeps a client that
 * sends its next request right after reading a response off that path. Measured 2026-11-24
 * with one keep-alive connection (wrk -c1, 13-byte file, three alternating 3 s runs): 16 spins
 * gave p50 20 µs, ~40k req/s and 24 µs of server CPU per request; 0 spins gave p50 79 µs,
 * ~12.5k req/s and 44 µs per request.
 *
 * Spinning only pays when work comes back within the spin. When it does not (ten clients
 * downloading 1 MiB files keep the server idle for hundreds of µs between events), every spin
 * is wasted: the budget adapts, doubling when a spin or a short block (< SHORT_BLOCK_MS) ends
 * in work and halving when a spin runs out. See README "Wait strategy" for the figures.
 */
export const IDLE_SPINS = 16;

/** A block that ended sooner than this would have been covered by spinning. */
const SHORT_BLOCK_MS = 0.2;

/** Longest single block, so a missed wake-up can never stall the loop for long. */
export const MAX_BLOCK_MS = 1000;

/** Something registered with the reactor. */
export interface IoHandler {
  /** @param events the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP) */
  onEvents(events: number): void;
}

function yieldMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tuning for the wait strategy (defaults are the measured best). */
export interface ReactorOptions {
  /** Longest run of I/O batches between macrotask turns; 0 yields after every batch. */
  yieldIntervalMs?: number;
  /** Empty polls before blocking. */
  idleSpins?: number;
}

/** The epoll event loop. */
export class Reactor implements Disposable {
  #ep: OwnedFd;
  #wake: OwnedFd;
  #handlers: (IoHandler | undefined)[] = [];
  #interest: number[] = [];
  #buf = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  // epoll_event is 12 bytes, so each event is three u32 words: events, data low (fd), data high.
  #words = new Uint32Array(this.#buf.buffer);
  #ctl = new Uint8Array(EPOLL_EVENT_SIZE);
  #ctlWords = new Uint32Array(this.#ctl.buffer);
  #batchCount = 0;
  #batchIndex = 0;
  #running = false;
  #stopped = false;
  #blocked = false;
  #scratch = new Uint8Array(8);
  #now = 0;
  #inBatch = false;
  #blockUntil = 0;
  /** Deadlines for connection timeouts. */
  readonly timers: TimerHeap = new TimerHeap();
  /** Counters for stats and tests. */
  readonly counters = { waits: 0, blockingWaits: 0, macrotaskYields: 0, batches: 0 };

  #yieldIntervalMs: number;
  #idleSpins: number;

  /**
   * @param options wait-strategy tuning
   * @throws {SyscallError} if epoll or the wake-up eventfd cannot be created
   */
  constructor(options: ReactorOptions = {}) {
    this.#yieldIntervalMs = options.yieldIntervalMs ?? YIELD_INTERVAL_MS;
    this.#idleSpins = options.idleSpins ?? IDLE_SPINS;
    const ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) throw new SyscallError("epoll_create1", lastErrno(), "Cannot create an epoll instance");
    this.#ep = new OwnedFd(ep);
    this.#wake = makeEventFd();
    this.add(this.#wake.fd, EPOLLIN, { onEvents: () => readFd(this.#wake.fd, this.#scratch, 8) });
  }

  /** The epoll descriptor (for tests). */
  get fd(): number {
    return this.#ep.fd;
  }

  #ctlCall(op: number, fd: number, events: number): number {
    this.#ctlWords[0] = events;
    this.#ctlWords[1] = fd;
    this.#ctlWords[2] = 0;
    return epoll_ctl(this.#ep.fd, op, fd, this.#ctl) < 0 ? -lastErrno() : 0;
  }

  /**
   * Registers `fd` with `events` interest.
   * @returns 0 or -errno
   */
  add(fd: number, events: number, handler: IoHandler): number {
    const err = this.#ctlCall(EPOLL_CTL_ADD, fd, events);
    if (err) return err;
    this.#handlers[fd] = handler;
    this.#interest[fd] = events;
    return 0;
  }

  /**
   * Changes the interest of a registered fd; no system call when it is unchanged.
   * @returns 0 or -errno
   */
  modify(fd: number, events: number): number {
    if (this.#interest[fd] === events) return 0;
    this.#interest[fd] = events;
    return this.#ctlCall(EPOLL_CTL_MOD, fd, events);
  }

  /**
   * Unregisters an fd that stays open (e.g. a paused listener).
   * @returns 0 or -errno
   */
  remove(fd: number): number {
    this.forget(fd);
    return this.#ctlCall(EPOLL_CTL_DEL, fd, 0);
  }

  /**
   * Drops an fd from the table just before it is closed. close(2) removes it from the epoll
   * set by itself (rawserve never dup()s a registered fd), so no epoll_ctl call is needed.
   * Pending events for it in the current batch are invalidated, as libuv does.
   */
  forget(fd: number): void {
    this.#handlers[fd] = undefined;
    this.#interest[fd] = 0;
    const words = this.#words;
    for (let i = this.#batchIndex + 1; i < this.#batchCount; i++) {
      if (words[i * 3 + 1] === fd) words[i * 3] = 0;
    }
  }

  /** Whether `fd` has a handler. */
  has(fd: number): boolean {
    return this.#handlers[fd] !== undefined;
  }

  /**
   * Arms a timer, relative to now.
   * @param timer the reusable timer
   * @param ms milliseconds from now
   */
  arm(timer: Timer, ms: number): void {
    // Inside a batch the clock was read once already; elsewhere (a handler's promise settling
    // while the reactor blocks) it may be stale, so read it.
    const deadline = (this.#inBatch ? this.#now : performance.now()) + ms;
    this.timers.arm(timer, deadline);
    // Armed while the reactor blocks (from a handler's promise): a deadline before the block
    // ends must cut it short, or the timer would fire late by up to MAX_BLOCK_MS.
    if (this.#blocked && deadline < this.#blockUntil) this.wake();
  }

  /** Wakes a blocked wait, e.g. after a signal listener changed state. */
  wake(): void {
    if (this.#blocked) {
      const one = new BigUint64Array([1n]);
      writeFd(this.#wake.fd, new Uint8Array(one.buffer), 8);
    }
  }

  /** Makes run() return after the current batch. */
  stop(): void {
    this.#stopped = true;
    this.wake();
  }

  #dispatch(n: number): void {
    const words = this.#words;
    const handlers = this.#handlers;
    this.#batchCount = n;
    for (let i = 0; i < n; i++) {
      this.#batchIndex = i;
      const events = words[i * 3]!;
      if (events === 0) continue; // invalidated by forget()
      handlers[words[i * 3 + 1]!]?.onEvents(events);
    }
    this.#batchCount = 0;
    this.#batchIndex = 0;
    this.counters.batches++;
  }

  /**
   * Polls once without blocking and dispatches what is ready (for tests and tools).
   * @returns the number of events dispatched
   */
  pollOnce(): number {
    const n = epoll_wait(this.#ep.fd, this.#buf, MAX_EVENTS, 0);
    if (n > 0) this.#dispatch(n);
    this.timers.runDue(performance.now());
    return Math.max(n, 0);
  }

  /**
   * Runs until stop(). The wait strategy:
   * 1. poll with a synchronous `epoll_wait(0)` (~0.3 µs) while there is work, draining
   *    microtasks after every batch;
   * 2. give Deno's event loop a macrotask turn (setImmediate) at least every
   *    YIELD_INTERVAL_MS even under sustained load, and after every empty poll;
   * 3. after an adaptive number of empty polls (at most IDLE_SPINS), block in `epoll_wait`
   *    on Deno's thread pool, which
   *    leaves Deno's loop free (timers, signals) and costs ~50 µs only when coming back
   *    from idle.
   */
  async run(): Promise<void> {
    if (this.#running) throw new Error("Reactor.run() is already running");
    this.#running = true;
    this.#stopped = false;
    const ep = this.#ep.fd;
    const buf = this.#buf;
    let lastYield = performance.now();
    let spins = 0;
    let budget = this.#idleSpins; // adaptive spin budget, 0..idleSpins
    try {
      while (!this.#stopped) {
        const n = epoll_wait(ep, buf, MAX_EVENTS, 0);
        this.counters.waits++;
        const now = this.#now = performance.now(); // one clock read per batch, shared by arm()
        this.#inBatch = true;
        if (n > 0) this.#dispatch(n);
        if (this.timers.nextKey() <= now) this.timers.runDue(now);
        this.#inBatch = false;
        if (n > 0) {
          if (spins > 0) budget = Math.min(this.#idleSpins, Math.max(1, budget * 2)); // the spin paid
          spins = 0;
          if (this.#yieldIntervalMs > 0 && now - lastYield < this.#yieldIntervalMs) {
            await null;
            continue;
          }
        } else if (++spins > budget) {
          spins = 0;
          budget >>= 1; // spinning found nothing this time
          const timeout = Math.min(MAX_BLOCK_MS, Math.max(0, Math.ceil(this.timers.nextKey() - now)));
          if (timeout > 0 && !this.#stopped) {
            this.#blocked = true;
            this.#blockUntil = now + timeout;
            this.counters.blockingWaits++;
            const m = await epoll_wait_blocking(ep, buf, MAX_EVENTS, timeout);
            this.#blocked = false;
            const later = this.#now = performance.now();
            if (m > 0 && later - now < SHORT_BLOCK_MS) {
              budget = Math.min(this.#idleSpins, Math.max(1, budget * 2));
            }
            this.#inBatch = true;
            if (m > 0) this.#dispatch(m);
            if (this.timers.nextKey() <= later) this.timers.runDue(later);
            this.#inBatch = false;
          }
        }
        this.counters.macrotaskYields++;
        await yieldMacrotask();
        if (this.#yieldIntervalMs > 0) lastYield = performance.now();
      }
    } finally {
      this.#running = false;
    }
  }

  /** Closes the epoll instance and the wake-up eventfd. Registered fds belong to others. */
  [Symbol.dispose](): void {
    this.#wake[Symbol.dispose]();
    this.#ep[Symbol.dispose]();
  }
}

export { Timer };
