// When the reactor may block: the adaptive spin budget. Mechanism (polling) is the reactor's;
// this only counts empty polls and says when spinning has stopped paying.

/**
 * Most empty polls (each followed by a setImmediate turn) before the reactor blocks. Blocking
 * goes through Deno's thread pool (~50 µs per wake-up), so a short spin keeps a client that
 * sends its next request right after reading a response off that path (with one keep-alive
 * client, 16 spins quartered the latency against none; docs/architecture.md, "Wait strategy").
 *
 * Spinning only pays when work comes back within the spin. When it does not (ten clients
 * downloading 1 MiB files keep the server idle for hundreds of µs between events), every spin
 * is wasted: the budget adapts, doubling when a spin or a short block (< SHORT_BLOCK_MS) ends
 * in work and halving when a spin runs out. See docs/architecture.md, "Wait strategy", for the figures.
 */
export const IDLE_SPINS = 16;

/** A block that ended sooner than this would have been covered by spinning. */
export const SHORT_BLOCK_MS = 0.2;

/** The adaptive number of empty polls allowed before blocking, between 0 and a maximum. */
export class SpinBudget {
  #max: number;
  #budget: number;
  #spins = 0;

  /** @param max the most empty polls before blocking (IDLE_SPINS by default) */
  constructor(max: number = IDLE_SPINS) {
    this.#max = max;
    this.#budget = max;
  }

  /** The current budget (for stats). */
  get budget(): number {
    return this.#budget;
  }

  /** A poll found work: if it came after empty polls, spinning paid, so allow more. */
  onWork(): void {
    if (this.#spins > 0) this.#grow();
    this.#spins = 0;
  }

  /**
   * A poll found nothing.
   * @returns true when the budget is spent and the reactor should block (the budget halves)
   */
  onEmpty(): boolean {
    if (++this.#spins <= this.#budget) return false;
    this.#spins = 0;
    this.#budget >>= 1;
    return true;
  }

  /** A block ended in work within SHORT_BLOCK_MS: a longer spin would have caught it. */
  onShortBlock(): void {
    this.#grow();
  }

  #grow(): void {
    this.#budget = Math.min(this.#max, Math.max(1, this.#budget * 2));
  }
}
