// Access log in Common Log Format, written in batches: lines gather in memory and leave in one
// write when the batch is large or old enough, never one system call per request; the write
// itself is asynchronous, so a slow or stuck destination never stops the reactor.

import type { RequestHead } from "../../http/request_head.ts";
import { wallClock } from "../../http/clock.ts";

/** A batch is written once it holds this many bytes... */
export const LOG_BATCH_BYTES = 64 * 1024;
/** ...or once its oldest line is this old. */
export const LOG_BATCH_MS = 250;

/**
 * Bytes a log line shows as `\xHH`, as nginx does: `"` (it would end the request field and let a
 * client forge the fields after it), `\` (so an escape is never ambiguous), control bytes (a line
 * break would forge a whole line; escapes drive terminals) and bytes beyond ASCII. The parser
 * refuses control and 8-bit bytes in a target already; the log does not depend on it.
 */
const ESCAPED = new Uint8Array(256);
for (let c = 0; c < 256; c++) ESCAPED[c] = c < 0x20 || c >= 0x7f || c === 34 || c === 92 ? 1 : 0;
const HEX = "0123456789ABCDEF";
/** The longest a character becomes in a log line (`\xHH`). */
const ESCAPE_GROWTH = 4;

/** `text` as a log line shows it: each byte ESCAPED marks as `\xHH` (text is Latin-1). */
export function escapeLogText(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) & 0xff;
    if (!ESCAPED[c]) continue;
    out += text.slice(from, i) + "\\x" + HEX[c >> 4] + HEX[c & 15];
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

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
 * @param nowMs the time of the line (default now)
 */
export function formatClf(
  remote: string,
  head: RequestHead | null,
  status: number,
  bytes: number,
  nowMs: number = Date.now(),
): string {
  const request = head
    ? `${head.method} ${escapeLogText(head.target)} HTTP/${head.major}.${head.minor}`
    : "-";
  return `${remote} - - ${clfTimestamp(nowMs)} "${request}" ${status} ${bytes === 0 ? "-" : bytes}`;
}

const TEXT = new TextEncoder();
const DASHES = TEXT.encode(" - - ");
const VERSION_11 = TEXT.encode(' HTTP/1.1" ');
const VERSION_10 = TEXT.encode(' HTTP/1.0" ');
const VERSION_20 = TEXT.encode(' HTTP/2.0" ');
const NO_REQUEST = TEXT.encode(' "-" ');

/**
 * Collects Common Log Format lines, formatted straight into one batch of bytes (the line
 * `formatClf` describes, without building its string), and hands each batch to `sink`.
 */
export class AccessLog {
  #batch = new Uint8Array(LOG_BATCH_BYTES + 4096);
  #length = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #second = -1;
  #timestamp = new Uint8Array(0);

  /**
   * @param sink takes ownership of each batch it is given (e.g. queues it for an async write)
   * @param clock the time of each line, in milliseconds (tests fix it)
   */
  constructor(readonly sink: (bytes: Uint8Array) => void, readonly clock: () => number = wallClock) {}

  /**
   * Appends one line for a response.
   * @param remote the client's address
   * @param head the request, or null when it could not be parsed
   * @param status the status sent
   * @param bytes body bytes sent
   */
  record(remote: string, head: RequestHead | null, status: number, bytes: number): void {
    const target = head?.target ?? "";
    const longest = remote.length + target.length * ESCAPE_GROWTH + (head?.method.length ?? 0) + 80;
    if (this.#length + longest > this.#batch.length) {
      this.flush();
      if (longest > this.#batch.length) this.#batch = new Uint8Array(longest);
    }
    this.#latin1(remote);
    this.#bytes(DASHES);
    this.#bytes(this.#timestampBytes(this.clock()));
    if (head) {
      this.#batch[this.#length++] = 32; // ' '
      this.#batch[this.#length++] = 34; // '"'
      this.#latin1(head.method);
      this.#batch[this.#length++] = 32;
      this.#escaped(target);
      this.#bytes(head.major === 2 ? VERSION_20 : head.minor === 0 ? VERSION_10 : VERSION_11);
    } else this.#bytes(NO_REQUEST);
    this.#decimal(status);
    this.#batch[this.#length++] = 32;
    if (bytes === 0) this.#batch[this.#length++] = 45; // '-'
    else this.#decimal(bytes);
    this.#batch[this.#length++] = 10;
    if (this.#length >= LOG_BATCH_BYTES) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), LOG_BATCH_MS);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Hands everything recorded to the sink. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#length === 0) return;
    const batch = this.#batch.slice(0, this.#length);
    this.#length = 0;
    this.sink(batch);
  }

  #timestampBytes(nowMs: number): Uint8Array {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#timestamp = TEXT.encode(clfTimestamp(nowMs));
    }
    return this.#timestamp;
  }

  #bytes(src: Uint8Array): void {
    this.#batch.set(src, this.#length);
    this.#length += src.length;
  }

  #latin1(s: string): void {
    const b = this.#batch;
    let o = this.#length;
    for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
    this.#length = o;
  }

  /** Latin-1 text with the bytes ESCAPED marks written as `\xHH` (see escapeLogText). */
  #escaped(s: string): void {
    const b = this.#batch;
    let o = this.#length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i) & 0xff;
      if (!ESCAPED[c]) {
        b[o++] = c;
        continue;
      }
      b[o++] = 92; // backslash
      b[o++] = 120; // 'x'
      b[o++] = HEX.charCodeAt(c >> 4);
      b[o++] = HEX.charCodeAt(c & 15);
    }
    this.#length = o;
  }

  #decimal(n: number): void {
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    const b = this.#batch;
    let o = this.#length + digits;
    this.#length = o;
    do {
      const q = Math.floor(n / 10);
      b[--o] = 48 + n - q * 10;
      n = q;
    } while (n > 0);
  }
}

/** Access-log bytes kept while the sink is slower than the traffic; beyond this, batches are dropped. */
const LOG_BACKLOG_BYTES = 4 * 1024 * 1024;
/** How long shutdown waits for the access log's last writes. */
const LOG_CLOSE_WAIT_MS = 1000;

/** Where access-log batches go. */
export interface LogSink {
  write(bytes: Uint8Array): void;
  /**
   * Opens the log file's path again and writes there from now on (SIGHUP after log rotation
   * renamed the file); the write in flight finishes in the old file, which is closed after it.
   * A failed write stopped logging; a reopen starts it again.
   * @returns false when the sink is stdout (nothing to reopen)
   * @throws {Deno.errors.NotFound} and the like when the path cannot be opened; the old file stays
   */
  reopen(): boolean;
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
  const toFile = path !== null && path !== "-";
  const open = () => Deno.openSync(path!, { append: true, create: true });
  let file = toFile ? open() : null;
  let target = file ?? Deno.stdout;
  /** Files replaced by a reopen while a write to them may be in flight: closed after it. */
  const retired: Deno.FsFile[] = [];
  const queue: Uint8Array[] = [];
  let queued = 0, dropped = 0, failed = false;
  let writing: Promise<void> | null = null;
  async function drain(): Promise<void> {
    while (queue.length > 0 && !failed) {
      const chunk = queue.shift()!;
      const out = target;
      try {
        for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
      } catch (e) {
        // A full disk or a closed stdout must not take the server down with it.
        failed = true;
        console.error(
          `rawserve: Cannot write the access log (${e instanceof Error ? e.message : e}); logging stops`,
        );
      }
      queued -= chunk.length;
      for (const old of retired.splice(0)) old.close();
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
    reopen() {
      if (!file) return false;
      const next = open();
      if (writing) retired.push(file);
      else file.close();
      file = next;
      target = next;
      if (failed) {
        failed = false;
        if (queue.length > 0) writing ??= drain();
      }
      return true;
    },
    async close() {
      if (writing) await Promise.race([writing, new Promise((r) => setTimeout(r, LOG_CLOSE_WAIT_MS))]);
      if (dropped > 0) console.error(`rawserve: ${dropped} access-log batch(es) were dropped`);
      for (const old of retired.splice(0)) old.close();
      file?.close();
    },
  };
}
