// The stream ids a client has used on one connection (RFC 9113 §5.1.1): the highest it opened,
// the odd ids it skipped (never opened), and the streams we reset lately, whose frames may still
// be in flight. What a frame on a stream that is not open means follows from these. Bounded: a
// few ranges and ids per connection, whatever the client does; what is forgotten errs lenient.

/** What a stream id that is not open now refers to (RFC 9113 §5.1). */
export const PAST_STREAM = {
  /** Above the highest id the client opened: idle. */
  IDLE: 0,
  /** Never opened: an even id (we never push, §8.4) or an odd one the client skipped (§5.1.1). */
  UNUSED: 1,
  /** Reset by us: the client may not know yet, so its frames are ignored (§5.1 closed). */
  RESET: 2,
  /** Closed, the client knowing it: its END_STREAM and ours, or its RST_STREAM (§5.1 closed). */
  CLOSED: 3,
} as const;
export type PastStream = typeof PAST_STREAM[keyof typeof PAST_STREAM];

/** Ranges of skipped ids remembered; older ones count as used, so their frames are not fatal. */
const MAX_GAPS = 16;
/**
 * Streams we reset remembered: frames on an older one get STREAM_CLOSED instead of silence, as
 * §5.1 lets an endpoint limit the time it ignores them (a stream error, never a connection's).
 */
const MAX_RESETS = 128;

/** The client's stream ids on one connection. */
export class StreamIds {
  /** The highest stream id the client opened (0 before the first). */
  last = 0;
  /** Odd ids skipped, as [first, last] pairs, oldest first. */
  #gaps: number[] = [];
  /** Streams we reset, oldest first (a Set keeps insertion order). */
  #resets = new Set<number>();

  /** The client opened `id`, above `last`: the odd ids between are never to be opened (§5.1.1). */
  open(id: number): void {
    const next = this.last === 0 ? 1 : this.last + 2;
    if (id > next) {
      this.#gaps.push(next, id - 2);
      if (this.#gaps.length > 2 * MAX_GAPS) this.#gaps.splice(0, 2);
    }
    this.last = id;
  }

  /** We sent RST_STREAM on `id`. */
  resetByUs(id: number): void {
    this.#resets.add(id);
    if (this.#resets.size > MAX_RESETS) this.#resets.delete(this.#resets.values().next().value!);
  }

  /** What `id`, a stream not open now, refers to. */
  past(id: number): PastStream {
    if (id > this.last) return PAST_STREAM.IDLE;
    if (id % 2 === 0) return PAST_STREAM.UNUSED;
    const gaps = this.#gaps;
    for (let i = 0; i < gaps.length; i += 2) {
      if (id >= gaps[i]! && id <= gaps[i + 1]!) return PAST_STREAM.UNUSED;
    }
    return this.#resets.has(id) ? PAST_STREAM.RESET : PAST_STREAM.CLOSED;
  }
}
