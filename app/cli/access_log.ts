// Access log, one line per response when it ends (so its bytes are those that really left and
// its time is the whole answer's), and one more for a WebSocket when it ends (after its 101's): Common or Combined Log Format with the request time after
// them (nginx's `$request_time`), or JSON. Lines gather in memory and leave in one write when
// the batch is large or old enough, never one system call per request; the write itself is
// asynchronous, so a slow or stuck destination never stops the reactor.

import type { RequestHead } from "../../http/request_head.ts";
import { wallClock } from "../../http/clock.ts";
import type { WebSocketEnded } from "../web/websocket.ts";

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
/** The access log's line formats (--log-format). */
export const LOG_FORMATS = ["common", "combined", "json"] as const;
/** One of LOG_FORMATS. */
export type LogFormat = typeof LOG_FORMATS[number];

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

/** A string's UTF-8 bytes as Latin-1 text, the form log text takes (a user-id's `ü` logs as `\xC3\xBC`). */
function utf8AsLatin1(text: string): string {
  return String.fromCharCode(...TEXT.encode(text));
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

/** What one log line tells of a response that ended. */
export interface LogEntry {
  /** The client's address. */
  remote: string;
  /** The request, or null when it could not be parsed. */
  head: RequestHead | null;
  /** The status sent. */
  status: number;
  /** Body bytes the kernel accepted (nginx's `$body_bytes_sent`). */
  bytes: number;
  /** Milliseconds from the request's head to the response's end. */
  ms: number;
  /** Whether all of the response left (false: the connection closed first). */
  complete: boolean;
  /** The user --auth-file let in (CLF's authuser), or null/absent for "-". */
  user?: string | null;
  /**
   * For the line a WebSocket gets when it ends (after its 101's line): the close code the
   * application heard and the bytes read from the client; `bytes` are then those sent and `ms`
   * the connection's life since the 101. Absent or null for a response.
   */
  webSocket?: { code: number; bytesIn: number } | null;
}

/** `ms` as seconds with millisecond resolution, as nginx's `$request_time` (`0.012`). */
function requestTime(ms: number): string {
  const whole = ms > 0 ? Math.round(ms) : 0;
  return `${Math.floor(whole / 1000)}.${String(whole % 1000).padStart(3, "0")}`;
}

/**
 * One log line (without the newline), as AccessLog writes it.
 * @param entry the response
 * @param format common (CLF), combined (CLF, Referer, User-Agent), each followed by the request
 *   time in seconds; or json (one object)
 * @param nowMs the time of the line (default now)
 */
export function formatLogLine(
  entry: LogEntry,
  format: LogFormat = "common",
  nowMs: number = Date.now(),
): string {
  const { remote, head, status, bytes } = entry;
  if (format === "json") return jsonLine(entry, nowMs);
  const request = head
    ? `${head.method} ${escapeLogText(head.target)} HTTP/${head.major}.${head.minor}`
    : "-";
  const user = entry.user ? escapeLogText(utf8AsLatin1(entry.user)) : "-";
  let line = `${remote} - ${user} ${clfTimestamp(nowMs)} "${request}" ${status} ${bytes === 0 ? "-" : bytes}`;
  if (format === "combined") {
    line += ` "${escapeLogText(head?.get("referer") ?? "-")}" "${
      escapeLogText(head?.get("user-agent") ?? "-")
    }"`;
  }
  line += ` ${requestTime(entry.ms)}`;
  return entry.webSocket ? `${line} ws-close=${entry.webSocket.code} ws-in=${entry.webSocket.bytesIn}` : line;
}

/** A JSON log line: one object per response, the fields named as a reader would guess them. */
function jsonLine(entry: LogEntry, nowMs: number): string {
  const { head } = entry;
  return JSON.stringify({
    time: new Date(nowMs).toISOString(),
    remote: entry.remote,
    method: head?.method ?? null,
    target: head?.target ?? null,
    protocol: head ? `HTTP/${head.major}.${head.minor}` : null,
    status: entry.status,
    bytes: entry.bytes,
    ms: Math.round(entry.ms * 1000) / 1000,
    complete: entry.complete,
    user: entry.user ?? null,
    ...(entry.webSocket
      ? { webSocket: { close: entry.webSocket.code, bytesIn: entry.webSocket.bytesIn } }
      : {}),
    referer: head?.get("referer") ?? null,
    userAgent: head?.get("user-agent") ?? null,
  });
}

const TEXT = new TextEncoder();
const DASHES = TEXT.encode(" - - ");
const DASH = TEXT.encode(" - ");
const VERSION_11 = TEXT.encode(' HTTP/1.1" ');
const VERSION_10 = TEXT.encode(' HTTP/1.0" ');
const VERSION_20 = TEXT.encode(' HTTP/2.0" ');
const NO_REQUEST = TEXT.encode(' "-" ');

/**
 * Collects log lines, formatted straight into one batch of bytes (the line `formatLogLine`
 * describes; common and combined without building its string), and hands each batch to `sink`.
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
   * @param format the line format (default common)
   */
  constructor(
    readonly sink: (bytes: Uint8Array) => void,
    readonly clock: () => number = wallClock,
    readonly format: LogFormat = "common",
  ) {}

  /**
   * Appends one line for a response that ended.
   * @param entry the response (read now; may be reused by the caller after)
   */
  record(entry: LogEntry): void {
    if (this.format === "json") return this.#text(jsonLine(entry, this.clock()));
    const { remote, head, status, bytes } = entry;
    const target = head?.target ?? "";
    const referer = this.format === "combined" ? head?.get("referer") ?? "-" : "";
    const agent = this.format === "combined" ? head?.get("user-agent") ?? "-" : "";
    const user = entry.user ? utf8AsLatin1(entry.user) : "";
    const longest = remote.length +
      (target.length + referer.length + agent.length + user.length) * ESCAPE_GROWTH +
      (head?.method.length ?? 0) + 100;
    this.#reserve(longest);
    this.#latin1(remote);
    if (user === "") this.#bytes(DASHES);
    else {
      this.#bytes(DASH);
      this.#escaped(user);
      this.#batch[this.#length++] = 32;
    }
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
    if (this.format === "combined") {
      this.#quoted(referer);
      this.#quoted(agent);
    }
    this.#seconds(entry.ms);
    if (entry.webSocket) this.#latin1(` ws-close=${entry.webSocket.code} ws-in=${entry.webSocket.bytesIn}`);
    this.#batch[this.#length++] = 10;
    this.#lineDone();
  }

  /** Room for a line of up to `longest` bytes in the batch. */
  #reserve(longest: number): void {
    if (this.#length + longest > this.#batch.length) {
      this.flush();
      if (longest > this.#batch.length) this.#batch = new Uint8Array(longest);
    }
  }

  /** A line made as a string (JSON), and its newline. */
  #text(line: string): void {
    const bytes = TEXT.encode(line + "\n");
    this.#reserve(bytes.length);
    this.#bytes(bytes);
    this.#lineDone();
  }

  /** A line is in the batch: hand it over when full, else within LOG_BATCH_MS. */
  #lineDone(): void {
    if (this.#length >= LOG_BATCH_BYTES) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), LOG_BATCH_MS);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** ` "text"`, escaped. */
  #quoted(text: string): void {
    this.#batch[this.#length++] = 32;
    this.#batch[this.#length++] = 34;
    this.#escaped(text);
    this.#batch[this.#length++] = 34;
  }

  /** ` S.mmm`: milliseconds as seconds (requestTime). */
  #seconds(ms: number): void {
    const whole = ms > 0 ? Math.round(ms) : 0;
    const fraction = whole % 1000;
    this.#batch[this.#length++] = 32;
    this.#decimal((whole - fraction) / 1000);
    this.#batch[this.#length++] = 46; // '.'
    this.#batch[this.#length++] = 48 + Math.floor(fraction / 100);
    this.#batch[this.#length++] = 48 + Math.floor(fraction / 10) % 10;
    this.#batch[this.#length++] = 48 + fraction % 10;
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
    // The pieces of a line are a few bytes each: a loop costs less than set()'s builtin call
    // (a quarter of the time a line took to format, in a loop over record(), before).
    const b = this.#batch;
    let o = this.#length;
    for (let i = 0; i < src.length; i++) b[o++] = src[i]!;
    this.#length = o;
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

  /** A non-negative integer (below 2^53) in decimal, as writer.ts's writeDecimal. */
  #decimal(n: number): void {
    const b = this.#batch;
    let o = this.#length;
    if (n < 0x7fffffff) { // int32 arithmetic (statuses, most sizes and seconds), no Math.floor
      let digits = 1;
      for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
      o += digits;
      this.#length = o;
      do {
        const q = (n / 10) | 0;
        b[--o] = 48 + n - q * 10;
        n = q;
      } while (n > 0);
      return;
    }
    const text = String(n); // exact below 2^53, where digit arithmetic on doubles is not
    for (let i = 0; i < text.length; i++) b[o++] = text.charCodeAt(i);
    this.#length = o;
  }
}

/**
 * The hook that writes the access log's line for a WebSocket that ended: the upgrade's request
 * and 101, the bytes sent, its life since the 101, its close code and the bytes received.
 * @param log where the line goes
 */
export function webSocketLogger(log: AccessLog): (ended: WebSocketEnded) => void {
  return (ended) =>
    log.record({
      remote: ended.remote,
      head: ended.head,
      status: 101,
      bytes: ended.bytesOut,
      ms: ended.ms,
      complete: true,
      webSocket: { code: ended.code, bytesIn: ended.bytesIn },
    });
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

/** A full disk or a closed stdout must not take the server down with it: logging stops, said once. */
function sayWriteFailed(e: unknown): void {
  console.error(
    `rawserve: Cannot write the access log (${e instanceof Error ? e.message : e}); logging stops`,
  );
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
        failed = true;
        sayWriteFailed(e);
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
