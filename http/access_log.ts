// Access log in Common Log Format, written in batches: lines gather in memory and leave in one
// write when the batch is large or old enough, never one system call per request.

import type { RequestHead } from "./parser.ts";

/** A batch is written once it holds this many bytes... */
export const LOG_BATCH_BYTES = 64 * 1024;
/** ...or once its oldest line is this old. */
export const LOG_BATCH_MS = 250;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
let clfSecond = -1;
let clfDate = "";

/** `[24/Nov/2026:20:01:18 +0000]`, rebuilt once a second. */
function clfTimestamp(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== clfSecond) {
    clfSecond = second;
    const d = new Date(second * 1000);
    const p = (n: number) => String(n).padStart(2, "0");
    clfDate = `[${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
      `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000]`;
  }
  return clfDate;
}

/**
 * One Common Log Format line (without the newline).
 * @param remote the client's address
 * @param head the request, or null when it could not be parsed
 * @param status the status sent
 * @param bytes body bytes sent
 */
export function formatClf(remote: string, head: RequestHead | null, status: number, bytes: number): string {
  const request = head ? `${head.method} ${head.target} HTTP/1.${head.minor}` : "-";
  // Quotes and control characters cannot reach here: the parser refused them in the target.
  return `${remote} - - ${clfTimestamp(Date.now())} "${request}" ${status} ${bytes === 0 ? "-" : bytes}`;
}

/** Collects log lines and writes them in batches through `sink`. */
export class AccessLog {
  #lines: string[] = [];
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #encoder = new TextEncoder();

  /** @param sink writes all the bytes it is given (e.g. a file's writeSync loop) */
  constructor(readonly sink: (bytes: Uint8Array) => void) {}

  /** Queues one line. */
  push(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length + 1;
    if (this.#bytes >= LOG_BATCH_BYTES) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), LOG_BATCH_MS);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Writes everything queued. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0) return;
    const text = this.#lines.join("\n") + "\n";
    this.#lines = [];
    this.#bytes = 0;
    this.sink(this.#encoder.encode(text));
  }
}
