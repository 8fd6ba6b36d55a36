// Access log in Common Log Format, written in batches: lines gather in memory and leave in one
// write when the batch is large or old enough, never one system call per request; the write
// itself is asynchronous, so a slow or stuck destination never stops the reactor.

import type { RequestHead } from "../http/parser.ts";

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

/** Access-log bytes kept while the sink is slower than the traffic; beyond this, batches are dropped. */
const LOG_BACKLOG_BYTES = 4 * 1024 * 1024;
/** How long shutdown waits for the access log's last writes. */
const LOG_CLOSE_WAIT_MS = 1000;

/** Where access-log batches go. */
export interface LogSink {
  write(bytes: Uint8Array): void;
  /** Waits (at most LOG_CLOSE_WAIT_MS) for queued writes, then closes a log file. */
  close(): Promise<void>;
}

/**
 * Opens the access-log sink: stdout, or a file opened for appending. Writes are asynchronous
 * (Deno performs them off the main thread) and one at a time, because a synchronous write to a
 * stdout pipe nobody reads, or to a stalled disk, would stop the reactor and every client with
 * it. Batches that arrive meanwhile wait, up to LOG_BACKLOG_BYTES; beyond that they are dropped,
 * and the drop is reported once.
 */
export function openLogSink(path: string | null): LogSink {
  const file = path === null || path === "-" ? null : Deno.openSync(path, { append: true, create: true });
  const target = file ?? Deno.stdout;
  const queue: Uint8Array[] = [];
  let queued = 0, dropped = 0, failed = false;
  let writing: Promise<void> | null = null;
  async function drain(): Promise<void> {
    while (queue.length > 0 && !failed) {
      const chunk = queue.shift()!;
      try {
        for (let off = 0; off < chunk.length;) off += await target.write(chunk.subarray(off));
      } catch (e) {
        // A full disk or a closed stdout must not take the server down with it.
        failed = true;
        console.error(
          `rawserve: Cannot write the access log (${e instanceof Error ? e.message : e}); logging stops`,
        );
      }
      queued -= chunk.length;
    }
    writing = null;
  }
  return {
    write(bytes) {
      if (failed) return;
      if (queued + bytes.length > LOG_BACKLOG_BYTES) {
        if (dropped++ === 0) {
          console.error("rawserve: The access log cannot keep up; dropping lines until it does");
        }
        return;
      }
      queue.push(bytes);
      queued += bytes.length;
      writing ??= drain();
    },
    async close() {
      if (writing) await Promise.race([writing, new Promise((r) => setTimeout(r, LOG_CLOSE_WAIT_MS))]);
      if (dropped > 0) console.error(`rawserve: ${dropped} access-log batch(es) were dropped`);
      file?.close();
    },
  };
}
