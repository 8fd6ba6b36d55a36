// Deadlines for the reactor: a binary min-heap of reusable Timer objects.
// Pushing a deadline later (what every request does to its connection's idle timer) only writes
// a number; the heap is corrected lazily when the stale, earlier key reaches the top.

/** What arms timers relative to its clock (the reactor). */
export interface TimerScheduler {
  /** Arms `timer` to fire `ms` milliseconds from now. */
  arm(timer: Timer, ms: number): void;
  /** The heap the scheduler's timers live in. */
  readonly timers: TimerHeap;
}

/**
 * What a timer may call instead of a closure: an object whose method runs (a connection is its
 * own timer target, which saves the closure and its context on every idle connection).
 */
export interface TimerTarget {
  onTimer(): void;
}

/** A reusable deadline. One per connection, never one per request. */
export class Timer {
  /** When the callback is due, in `performance.now()` milliseconds; Infinity when unarmed. */
  deadline = Infinity;
  /** The key the heap orders this timer by; never later than `deadline` while queued. */
  key = Infinity;
  /** Position in the heap, -1 when not queued. */
  index = -1;

  /**
   * @param callback runs once per expiry, from the reactor, after I/O dispatch
   * @param scheduler the reactor, for timers that arm themselves (`arm`, `disarm`, `dispose`)
   */
  constructor(
    readonly callback: (() => void) | TimerTarget,
    readonly scheduler: TimerScheduler | null = null,
  ) {}

  /** Runs the callback (or the target's onTimer). */
  fire(): void {
    const callback = this.callback;
    if (typeof callback === "function") callback();
    else callback.onTimer();
  }

  /** Fires `ms` from now (re-arming moves the deadline; moving it later costs one assignment). */
  arm(ms: number): void {
    this.scheduler!.arm(this, ms);
  }

  /** Stops the timer from firing until it is armed again. */
  disarm(): void {
    this.deadline = Infinity;
  }

  /** Takes the timer out of its heap for good (its owner is going away). */
  dispose(): void {
    this.scheduler!.timers.remove(this);
  }
}

/** A min-heap of timers keyed by deadline. */
export class TimerHeap {
  #heap: Timer[] = [];

  /** Number of queued timers (armed, or stale and waiting to be corrected). */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * Arms `timer` to fire at `deadline`. Moving an armed deadline later costs one assignment.
   * @param timer the timer to arm or re-arm
   * @param deadline absolute time in `performance.now()` milliseconds
   */
  arm(timer: Timer, deadline: number): void {
    timer.deadline = deadline;
    if (timer.index < 0) {
      timer.key = deadline;
      timer.index = this.#heap.length;
      this.#heap.push(timer);
      this.#siftUp(timer.index);
    } else if (deadline < timer.key) {
      timer.key = deadline;
      this.#siftUp(timer.index);
    }
  }

  /** Disarms `timer`; a queued entry stays until it surfaces and is then dropped. */
  disarm(timer: Timer): void {
    timer.deadline = Infinity;
  }

  /** Removes a timer from the heap at once (for timers whose owner goes away). */
  remove(timer: Timer): void {
    const i = timer.index;
    timer.deadline = Infinity;
    if (i < 0) return;
    const last = this.#heap.pop()!;
    timer.index = -1;
    if (last !== timer) {
      this.#heap[i] = last;
      last.index = i;
      this.#siftDown(i);
      this.#siftUp(last.index);
    }
  }

  /**
   * The earliest key in the heap: a lower bound for the next expiry (a stale key only makes
   * the reactor wake early, find nothing due, and re-queue).
   * @returns milliseconds, or Infinity when empty
   */
  nextKey(): number {
    // Not `heap[0]?.key`: reading past the end deoptimized the reactor's loop each time the heap
    // emptied (an idle server's last connection closing).
    const heap = this.#heap;
    return heap.length > 0 ? heap[0]!.key : Infinity;
  }

  /**
   * Runs the callbacks of every timer whose deadline is at or before `now`.
   * @returns how many callbacks ran
   */
  runDue(now: number): number {
    let ran = 0;
    for (;;) {
      const top = this.#heap[0];
      if (!top || top.key > now) return ran;
      if (top.deadline <= now) {
        this.remove(top);
        ran++;
        top.fire();
      } else if (top.deadline === Infinity) {
        this.remove(top);
      } else {
        top.key = top.deadline; // pushed later since it was queued: re-key and sink
        this.#siftDown(0);
      }
    }
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const t = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (parent.key <= t.key) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = t;
    t.index = i;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const t = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1]!.key < heap[c]!.key) c++;
      const child = heap[c]!;
      if (child.key >= t.key) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = t;
    t.index = i;
  }
}
