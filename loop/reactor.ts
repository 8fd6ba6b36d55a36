// The reactor: an fd-indexed handler table over the epoll backend, timers, and the wait strategy.
// Level-triggered. Interest changes reach the kernel only when they change, and events for a
// descriptor closed earlier in the same batch are dropped (its number may already be reused).

import { EPOLLIN, libc } from "../ffi/libc.ts";
import { makeEventFd, type OwnedFd, readFd, writeFd } from "../ffi/socket.ts";
import { Epoll } from "./epoll.ts";
import { Timer, TimerHeap, type TimerScheduler, type TimerTarget } from "./timers.ts";
import { IDLE_SPINS, SHORT_BLOCK_MS, SpinBudget } from "./wait_policy.ts";
import { setImmediate } from "node:timers";

/**
 * How long the reactor may run I/O batches back to back before it gives Deno's event loop a
 * macrotask turn (timers, signal listeners, async ops); 0 means after every batch. Between
 * batches it always drains microtasks (`await null`, ~0.04 µs), so promise continuations of
 * handlers run at once either way. Yielding after every batch costs no more than yielding once
 * a millisecond (the turn is shared by the batch) and keeps timers and signals prompt; the
 * measurements are in docs/architecture.md, "Wait strategy" (scripts/wait_bench.ts).
 */
export const YIELD_INTERVAL_MS = 0;

/**
 * The longest synchronous wait for a server whose own code needs nothing from Deno's event loop
 * (the CLI's file server and embedded page; not `--app` or serve(), whose handlers may await
 * anything), and only while no answer is a promise (the server counts them: a compression, say).
 * A wait on Deno's thread pool hands the call to another thread and the result back
 * (two context switches and a futex per wake-up); blocking this thread in epoll_wait costs
 * neither. Deno's loop then runs after each wait, so its timers and signal listeners are late by
 * at most this much (a signal delivered to this thread interrupts the wait at once, EINTR).
 * It cut the server's CPU for 1 MiB downloads by a fifth and changed nothing else measured
 * (docs/architecture.md, "Wait strategy").
 */
export const SYNC_WAIT_MS = 10;

/**
 * Longest run of batches (ms) during which Deno's runtime never parks, before the reactor waits
 * on Deno's thread pool (PARK_SLEEP_US) to let it park. Deno's event loop is a task on tokio's
 * current-thread scheduler, which polls its own I/O driver (an app's fetch(), Deno.connect, a
 * database client) only when it parks or every 61 task polls; a reactor that yields with
 * setImmediate after every batch wakes that task at once, so under load an app's sockets were
 * read every 61 batches: 9-68 ms for a local TCP round trip from a serve() app under wrk, over
 * 200 ms once its handler worked 20 µs a request (0.3 ms idle). A park costs the reactor ~120 µs
 * (the sleep, its timer slack and two wake-ups): every 2 ms, 5.5% of a saturated reactor's
 * throughput, for a worst round trip of ~3 ms; every 5 ms, ~2%, for 5.5-7.3 ms.
 * docs/architecture.md, "Wait strategy".
 */
export const PARK_INTERVAL_MS = 5;

/**
 * How long that wait sleeps (µs; with Linux's default timer slack, ~70). It must outlast the main
 * thread's way into tokio's park: an `epoll_wait(0)` on the thread pool returned first when both
 * threads shared a CPU, tokio then found the task ready and did not park (round trips stayed at
 * 4.8 ms median, 28 ms worst, with a busy-loop load of 300 µs batches; with this sleep 0.5-0.7 and 3-4).
 */
export const PARK_SLEEP_US = 20;

/** Longest single block, so a missed wake-up can never stall the loop for long. */
export const MAX_BLOCK_MS = 1000;

/**
 * While unreferenced (unref()), the idle wait is a poll this often from a timer that does not
 * keep the process alive (Deno.unrefTimer), instead of the blocking call on Deno's thread pool,
 * which would. An idle unreferenced server answers within this much more (a poll costs ~2 µs).
 */
export const UNREF_POLL_MS = 5;

const { usleep_blocking } = libc.symbols;

function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => Deno.unrefTimer(setTimeout(resolve, ms)));
}

/** Something registered with the reactor. */
export interface IoHandler {
  /** @param events the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP) */
  onEvents(events: number): void;
}

/**
 * The last turn's Immediate (node:timers' class in Deno), kept until the next turn: without one
 * alive, an idle spell's memory-reducing GC drops its map and Deno's optimized timer code with it
 * (http/shapes.ts says why that matters).
 */
const lastTurn: { immediate: unknown } = { immediate: null };

function yieldMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    lastTurn.immediate = setImmediate(resolve);
  });
}

/** Tuning for the wait strategy (defaults are the measured best), and a batch hook. */
export interface ReactorOptions {
  /**
   * Called before and after each batch of events and timers, with the batch's clock reading
   * (performance.now()), so what runs inside can share one reading of the time.
   */
  batch?: { start(now: number): void; end(): void };
  /** Longest run of I/O batches between macrotask turns; 0 yields after every batch. */
  yieldIntervalMs?: number;
  /** Most empty polls before blocking. */
  idleSpins?: number;
  /**
   * When idle, block in epoll_wait on this thread for at most this long (ms), instead of on
   * Deno's thread pool, whenever `mayBlockThread()` says nothing else needs Deno's event loop
   * (SYNC_WAIT_MS says why and when). 0 (the default): always the thread pool.
   */
  syncWaitMs?: number;
  /** Whether nothing but the reactor needs Deno's event loop now (no promise an answer waits for). */
  mayBlockThread?: () => boolean;
  /**
   * Longest run of batches (ms) before the reactor lets Deno's runtime park and poll its own I/O
   * (PARK_INTERVAL_MS, the default, says why); 0 never does, for a server whose code does no I/O
   * through Deno (the CLI's file server).
   */
  parkIntervalMs?: number;
}

/** The epoll event loop. */
export class Reactor implements Disposable, TimerScheduler {
  #epoll = new Epoll();
  #wake: OwnedFd;
  #wakeBuf = new Uint8Array(8);
  #wakeOne = new Uint8Array(new BigUint64Array([1n]).buffer);
  #handlers: (IoHandler | undefined)[] = [];
  #interest: number[] = [];
  #batchCount = 0;
  #batchIndex = 0;
  #running = false;
  #stopped = false;
  #blocked = false;
  #blockUntil = 0;
  #now = 0;
  #inBatch = false;
  /** Handlers fed a synthetic event (feed), and the events; run after the next batch. */
  #fed: IoHandler[] = [];
  #fedEvents: number[] = [];
  #yieldIntervalMs: number;
  #parkIntervalMs: number;
  /** When Deno's runtime last parked while the reactor waited (performance.now()). */
  #lastPark = 0;
  #spin: SpinBudget;
  #syncWaitMs: number;
  #mayBlockThread: () => boolean;
  /** A synchronous wait timed out: no more of them until events come again. */
  #longIdle = false;
  #batchHook: ReactorOptions["batch"] | null;
  #referenced = true;
  /** Deadlines for connection timeouts. */
  readonly timers: TimerHeap = new TimerHeap();
  /** Counters for stats and tests. */
  readonly counters = { waits: 0, blockingWaits: 0, syncWaits: 0, macrotaskYields: 0, batches: 0, parks: 0 };

  /**
   * @param options wait-strategy tuning
   * @throws {SyscallError} if epoll or the wake-up eventfd cannot be created
   */
  constructor(options: ReactorOptions = {}) {
    this.#yieldIntervalMs = options.yieldIntervalMs ?? YIELD_INTERVAL_MS;
    this.#parkIntervalMs = options.parkIntervalMs ?? PARK_INTERVAL_MS;
    this.#spin = new SpinBudget(options.idleSpins ?? IDLE_SPINS);
    this.#syncWaitMs = options.syncWaitMs ?? 0;
    this.#mayBlockThread = options.mayBlockThread ?? (() => true);
    this.#batchHook = options.batch ?? null;
    this.#wake = makeEventFd();
    this.add(this.#wake.fd, EPOLLIN, { onEvents: () => readFd(this.#wake.fd, this.#wakeBuf, 8) });
  }

  /** The epoll descriptor (for tests). */
  get fd(): number {
    return this.#epoll.fd;
  }

  /** The current adaptive spin budget (for stats). */
  get spinBudget(): number {
    return this.#spin.budget;
  }

  /**
   * The reactor's clock (`performance.now()` ms): inside a batch, the reading taken once when
   * the batch began, so callers on the request path pay nothing for it; elsewhere (a handler's
   * promise settling while the reactor blocks) a fresh reading, since the batch's may be stale.
   */
  now(): number {
    return this.#inBatch ? this.#now : performance.now();
  }

  /**
   * Registers `fd` with `events` interest.
   * @returns 0 or -errno
   */
  add(fd: number, events: number, handler: IoHandler): number {
    const err = this.#epoll.add(fd, events);
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
    return this.#epoll.modify(fd, events);
  }

  /**
   * Unregisters an fd that stays open (e.g. a paused listener).
   * @returns 0 or -errno
   */
  remove(fd: number): number {
    this.forget(fd);
    return this.#epoll.remove(fd);
  }

  /**
   * Drops an fd from the table just before it is closed. close(2) removes it from the epoll
   * set by itself (rawserve never dup()s a registered fd), so no epoll_ctl call is needed.
   * Pending events for it in the current batch are invalidated, as libuv does.
   */
  forget(fd: number): void {
    this.#handlers[fd] = undefined;
    this.#interest[fd] = 0;
    const words = this.#epoll.words;
    for (let i = this.#batchIndex + 1; i < this.#batchCount; i++) {
      if (words[i * 3 + 1] === fd) words[i * 3] = 0;
    }
  }

  /**
   * A timer that arms itself on this reactor's clock.
   * @param callback runs once per expiry, after I/O dispatch
   */
  timer(callback: (() => void) | TimerTarget): Timer {
    return new Timer(callback, this);
  }

  /**
   * Arms a timer, relative to now.
   * @param timer the reusable timer
   * @param ms milliseconds from now
   */
  arm(timer: Timer, ms: number): void {
    const deadline = this.now() + ms;
    this.timers.arm(timer, deadline);
    // Armed while the reactor blocks (from a handler's promise): a deadline before the block
    // ends must cut it short, or the timer would fire late by up to MAX_BLOCK_MS.
    if (this.#blocked && deadline < this.#blockUntil) this.wake();
  }

  /**
   * Queues `events` for `handler` as if epoll had reported them, for input that waits outside
   * the kernel where epoll cannot see it (TLS records OpenSSL has already read: SSL_pending(3)).
   * libuv's uv__io_feed in spirit. The event runs after the current batch (or the next poll);
   * while one is queued the reactor does not block. The handler must check that it is still
   * open: a feed is not withdrawn when its descriptor closes.
   */
  feed(handler: IoHandler, events: number): void {
    this.#fed.push(handler);
    this.#fedEvents.push(events);
    this.wake();
  }

  /** Runs the events fed so far; those fed meanwhile wait for the next round (no starvation). */
  #runFed(): number {
    const handlers = this.#fed, events = this.#fedEvents;
    const n = handlers.length;
    if (n === 0) return 0;
    this.#fed = [];
    this.#fedEvents = [];
    for (let i = 0; i < n; i++) handlers[i]!.onEvents(events[i]!);
    return n;
  }

  /** Wakes a blocked wait, e.g. after a signal listener changed state. */
  wake(): void {
    if (this.#blocked) writeFd(this.#wake.fd, this.#wakeOne, 8);
  }

  /** The reactor keeps the process alive while it runs (the default). */
  ref(): void {
    this.#referenced = true;
  }

  /** The reactor no longer keeps the process alive: it serves while something else does. */
  unref(): void {
    this.#referenced = false;
    this.wake(); // a blocking wait in progress would keep the process alive until it ends
  }

  /** Makes run() return after the current batch. */
  stop(): void {
    this.#stopped = true;
    this.wake();
  }

  /**
   * Dispatches the `n` events the backend fetched and the fed ones, then runs the timers that
   * are due.
   * @returns the number of fed events run
   */
  #runBatch(n: number, now: number): number {
    this.#now = now; // one clock read per batch, shared by arm()
    this.#inBatch = true;
    this.#batchHook?.start(now);
    if (n > 0) {
      const words = this.#epoll.words;
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
    const fed = this.#runFed();
    if (this.timers.nextKey() <= now) this.timers.runDue(now);
    this.#batchHook?.end();
    this.#inBatch = false;
    return fed;
  }

  /**
   * Polls once without blocking and dispatches what is ready (for tests and tools).
   * @returns the number of events dispatched, fed ones included
   */
  pollOnce(): number {
    const n = this.#epoll.poll();
    return n + this.#runBatch(n, performance.now());
  }

  /**
   * Runs until stop(). The wait strategy:
   * 1. poll with a synchronous `epoll_wait(0)` (~0.3 µs) while there is work, draining
   *    microtasks after every batch;
   * 2. give Deno's event loop a macrotask turn (setImmediate) at least every
   *    YIELD_INTERVAL_MS even under sustained load, and after every empty poll;
   * 3. once the spin budget (SpinBudget) is spent on empty polls, block in `epoll_wait` on
   *    Deno's thread pool, which leaves Deno's loop free (timers, signals) and costs ~50 µs
   *    only when coming back from idle;
   * 4. under sustained load, instead of that turn, wait on the thread pool (PARK_SLEEP_US) at
   *    least every PARK_INTERVAL_MS, so that Deno's runtime parks and its own I/O is not starved.
   */
  async run(): Promise<void> {
    if (this.#running) throw new Error("Reactor.run() is already running");
    this.#running = true;
    this.#stopped = false;
    let lastYield = performance.now();
    this.#lastPark = lastYield;
    try {
      while (!this.#stopped) {
        const n = this.#epoll.poll();
        this.counters.waits++;
        const now = performance.now();
        const fed = this.#runBatch(n, now);
        if (n > 0 || fed > 0) {
          this.#spin.onWork();
          this.#longIdle = false;
          if (this.#parkIntervalMs > 0 && now - this.#lastPark >= this.#parkIntervalMs) {
            await this.#letRuntimePark();
            continue;
          }
          if (this.#yieldIntervalMs > 0 && now - lastYield < this.#yieldIntervalMs) {
            await null;
            continue;
          }
        } else if (this.#spin.onEmpty()) {
          await this.#block(now);
        }
        this.counters.macrotaskYields++;
        await yieldMacrotask();
        if (this.#yieldIntervalMs > 0) lastYield = performance.now();
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * Sleeps PARK_SLEEP_US on Deno's thread pool instead of a macrotask turn. Deno's event loop has
   * nothing to do meanwhile, so tokio parks and polls its I/O driver (PARK_INTERVAL_MS); timers
   * and immediates run as in a macrotask turn. The next poll comes right after.
   */
  async #letRuntimePark(): Promise<void> {
    this.counters.parks++;
    await usleep_blocking(PARK_SLEEP_US);
    this.#lastPark = performance.now();
  }

  /** Blocks until an event, the next timer or MAX_BLOCK_MS, then runs that batch. */
  async #block(now: number): Promise<void> {
    const timeout = Math.min(MAX_BLOCK_MS, Math.max(0, Math.ceil(this.timers.nextKey() - now)));
    if (timeout === 0 || this.#stopped || this.#fed.length > 0) return;
    if (!this.#referenced) {
      await unrefSleep(Math.min(timeout, UNREF_POLL_MS));
      this.#lastPark = performance.now();
      this.#runBatch(this.#epoll.poll(), this.#lastPark);
      return;
    }
    this.counters.blockingWaits++;
    if (this.#syncWaitMs > 0 && !this.#longIdle && this.#mayBlockThread()) {
      this.counters.syncWaits++;
      const n = this.#epoll.wait(Math.min(timeout, this.#syncWaitMs));
      // Nothing for SYNC_WAIT_MS: idle for a while, so the thread pool's wait from now on, which
      // costs nothing while nothing happens (waking up every few ms would: ~1% of a CPU).
      if (n === 0) this.#longIdle = true;
      const later = performance.now();
      // Waking from any block costs the kernel's wake-up latency: a short one means spinning pays.
      if (n > 0 && later - now < SHORT_BLOCK_MS) this.#spin.onShortBlock();
      this.#runBatch(n, later);
      return;
    }
    this.#blocked = true;
    this.#blockUntil = now + timeout;
    const n = await this.#epoll.pollBlocking(timeout);
    this.#blocked = false;
    const later = performance.now();
    this.#lastPark = later;
    if (n > 0) this.#longIdle = false;
    if (n > 0 && later - now < SHORT_BLOCK_MS) this.#spin.onShortBlock();
    this.#runBatch(n, later);
  }

  /** Closes the epoll instance and the wake-up eventfd. Registered fds belong to others. */
  [Symbol.dispose](): void {
    this.#wake[Symbol.dispose]();
    this.#epoll[Symbol.dispose]();
  }
}
