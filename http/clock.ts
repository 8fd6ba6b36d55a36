// The time, read once per batch of events instead of once per use (nginx's ngx_time_update does
// the same): a response's Date, the static cache's revalidation window and the access log all
// ask for it, and each reading costs 40-80 ns in Deno. While the event loop is inside a batch
// the batch's reading is returned; outside one (an async handler finishing later, tests) the
// clock is read anew, so no answer carries a stale time. Batches are counted too: work bounded
// per turn of the event loop (a stream's pump) starts a fresh allowance when the count moves.

let inBatch = false;
let monoMs = 0;
let wallMs = 0;
let batches = 0;

/** Monotonic milliseconds (performance.now()), for intervals: it never jumps. */
export function monoClock(): number {
  return inBatch ? monoMs : performance.now();
}

/** Wall-clock milliseconds (Date.now()), for dates. */
export function wallClock(): number {
  return inBatch ? wallMs : Date.now();
}

/** Batches the event loop has begun: a new number means a new turn of the reactor. */
export function currentBatch(): number {
  return batches;
}

/** The event loop starts a batch: every use until batchEnd() shares these readings. */
export function batchStart(mono: number, wall: number): void {
  batches++;
  monoMs = mono;
  wallMs = wall;
  inBatch = true;
}

/** The batch is over: readings are taken afresh again. */
export function batchEnd(): void {
  inBatch = false;
}
