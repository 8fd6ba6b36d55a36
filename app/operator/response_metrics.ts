// What is counted per response when metrics are on: responses by status code and the
// response-time histogram. Fixed-size typed arrays, so recording a response allocates nothing
// and costs a few comparisons (most responses land in the first bucket).

import type { HttpProtocol } from "../../http/types.ts";

/**
 * Upper bounds of the response-time buckets, in seconds: 100 µs to 10 s in 1-2.5-5 steps, the
 * ladder Prometheus client libraries use for their defaults, extended down to 100 µs because a
 * page from memory takes a few µs. Prometheus histograms count a value in every bucket whose
 * bound is >= it (`le`: less or equal); the exposition adds the `+Inf` bucket.
 */
export const RESPONSE_BUCKETS_S: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The protocols responses are counted by, each a slot of ResponseMetrics.byProtocol. */
const PROTOCOLS: readonly HttpProtocol[] = ["h1", "h2"];

/** Status codes are three digits (RFC 9110 §15); a handler's out-of-range code counts here. */
const OTHER_STATUS = 0;

/** Response counts by status and the response-time histogram of one server. */
export class ResponseMetrics {
  /** Responses by status code (the index); index 0 holds codes outside 100-599. */
  readonly byStatus: Float64Array = new Float64Array(600);
  /** Per-bucket counts, not cumulative; the last slot counts what is above the largest bound. */
  readonly buckets: Float64Array = new Float64Array(RESPONSE_BUCKETS_S.length + 1);
  /** Sum of all response times, seconds. */
  sumSeconds = 0;
  /** Responses recorded. */
  count = 0;
  /** Responses by protocol (HttpProtocol), in the order PROTOCOLS lists them. */
  readonly byProtocol: Float64Array = new Float64Array(PROTOCOLS.length);
  #boundsMs = Float64Array.from(RESPONSE_BUCKETS_S, (s) => s * 1000);

  /**
   * Counts one completed response.
   * @param status its status code
   * @param ms milliseconds from its request's head to its last byte in the kernel
   * @param protocol the protocol it was answered over
   */
  record(status: number, ms: number, protocol: HttpProtocol): void {
    this.byProtocol[protocol === "h2" ? 1 : 0]!++;
    this.byStatus[status >= 100 && status < 600 ? status : OTHER_STATUS]!++;
    const t = ms > 0 ? ms : 0; // a clock is monotonic; this only guards the sum
    const bounds = this.#boundsMs;
    let i = 0;
    while (i < bounds.length && t > bounds[i]!) i++;
    this.buckets[i]!++;
    this.sumSeconds += t / 1000;
    this.count++;
  }

  /** Counts by status code as text (`"200"`, or `"other"`), only codes seen. */
  statusCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    this.byStatus.forEach((n, code) => {
      if (n > 0) out[code === OTHER_STATUS ? "other" : String(code)] = n;
    });
    return out;
  }

  /** Counts by protocol (`"h1"`, `"h2"`), only protocols seen. */
  protocolCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    PROTOCOLS.forEach((name, i) => {
      if (this.byProtocol[i]! > 0) out[name] = this.byProtocol[i]!;
    });
    return out;
  }

  /** The cumulative buckets, as Prometheus exposes them: each bound with the count at or below it. */
  cumulativeBuckets(): { le: number; count: number }[] {
    let running = 0;
    const out = RESPONSE_BUCKETS_S.map((le, i) => ({ le, count: running += this.buckets[i]! }));
    out.push({ le: Infinity, count: running + this.buckets[RESPONSE_BUCKETS_S.length]! });
    return out;
  }
}
