// Output buffers lent to HTTP/2 sessions while they send bodies and given back when a burst is
// written, shared by every session of a server (one thread: a lent buffer has one user at a time).
// A session that allocated and grew its own buffer per burst churned large ArrayBuffers, and V8
// collects those by external-memory pressure: full mark-compacts every few thousand responses.

/** A bounded free list of equal-sized byte buffers. */
export class BufferPool {
  /** Each buffer's size in bytes. */
  readonly size: number;
  /** Idle buffers kept; more given back are left to the collector (bounds the pool's memory). */
  readonly keep: number;
  #idle: Uint8Array[] = [];

  /**
   * @param size each buffer's size in bytes
   * @param keep the most idle buffers kept
   */
  constructor(size: number, keep: number) {
    this.size = size;
    this.keep = keep;
  }

  /** Idle buffers held now. */
  get idle(): number {
    return this.#idle.length;
  }

  /** An idle buffer, or a new one: its contents are whatever its last user left. */
  take(): Uint8Array {
    return this.#idle.pop() ?? new Uint8Array(this.size);
  }

  /**
   * Gives a buffer back; one of another size (grown past the pool's), one given already (it would
   * be lent twice) or one past `keep` is dropped.
   */
  give(bytes: Uint8Array): void {
    const idle = this.#idle;
    if (bytes.length !== this.size || bytes.byteOffset !== 0 || idle.length >= this.keep) return;
    if (!idle.includes(bytes)) idle.push(bytes);
  }
}
