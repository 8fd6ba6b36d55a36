// One HTTP/1.1 connection, as coordination: the request intake turns input into handler calls,
// the response queue writes their answers in request order. The phase the connection is in
// follows from those facts, and one function (#settle) turns it into the deadline (phases.ts)
// and the epoll interest. Idle connections hold no buffers: input and output use shared ones.
//
// When does it close? Every way out is in this file: #finish (after the last response, at once
// or after a linger), #onPeerFin (FIN with nothing owed, or an answer the application is still
// making), onTimer (a deadline), a failed write in #flush, and #handOver (a 101: the transport is another
// protocol's, not closed). The phases, each with its one deadline:
//
//   head --(head parsed)--> busy --(answer ready)--> writing? --(written)--> idle | head
//     |                      |  \--(body expected)--> body --(body read)--> busy
//     |                      \--(101 written)--> handed over
//   idle --(bytes)--> head          any --(Connection: close answered)--> linger | closed
//   writing --(no progress for writeTimeoutMs)--> closed
//   head | body --(deadline)--> 408 then linger;  idle | linger --(deadline)--> closed
import { HttpError, STATUS, statusResponse } from "../status.ts";
import { READ } from "./request_reader.ts";
import type { BodyBudget } from "../request_body.ts";
import { CUT_SHORT, RequestIntake } from "./request_intake.ts";
import { DRAIN } from "./output_queue.ts";
import { ResponseQueue } from "./responses.ts";
import { type Phase, PHASE_TIMEOUT, restartsPerRequest, type Timeouts } from "./phases.ts";
import { type ConnectionStats, countClientLeft, countError, logHandlerFailure } from "../stats.ts";
import type {
  Deadline,
  DeadlineTarget,
  Handler,
  HttpResponse,
  HttpSession,
  ResponseDone,
  Session,
  Transport,
} from "../types.ts";
import { IO } from "../types.ts";

/** A lingering close waits at most this long for the peer's FIN (RFC 9112 §9.6). */
export const LINGER_MS = 2000;

/** Limits and hooks every connection of a server shares. */
export interface ConnectionOptions {
  handler: Handler;
  /** Makes the connection's one deadline (once per connection). */
  deadline: (callback: (() => void) | DeadlineTarget) => Deadline;
  /**
   * Runs `task` on the event loop's next turn, after the I/O ready by then (the reactor's feed):
   * a stream that spent its allowance for this turn goes on there. Default: a 0 ms timer.
   */
  nextTurn?: (task: () => void) => void;
  /** Largest request body a handler may read (413 beyond). */
  maxBodyBytes: number;
  /** Request-body bytes held by all connections, and their bound (503 beyond). */
  bodyBudget: BodyBudget;
  /** Time to receive a complete head once a request has begun (408 after). */
  headerTimeoutMs: number;
  /** Time an idle keep-alive connection is kept. */
  idleTimeoutMs: number;
  /** Time a request body may stall between reads (408 after). */
  bodyTimeoutMs: number;
  /** Time a response may make no progress because the client does not read. */
  writeTimeoutMs: number;
  /** Time a lingering close waits for the client's FIN (default LINGER_MS). */
  lingerMs?: number;
  /** Responses owed (pipelining) before the connection stops reading. */
  maxPipelined: number;
  /** Counters; the connection only adds to them. */
  stats: ConnectionStats;
  /** Whether new responses must carry `Connection: close` (the server is draining). */
  draining: () => boolean;
  /** Called once when the connection closes. */
  onClose?: (session: HttpSession) => void;
  /**
   * Called once when the connection has handed its transport to another protocol after a 101
   * (its response's `upgrade`); the connection is closed, the transport is not.
   */
  onUpgrade?: (conn: Connection, session: Session) => void;
  /** Called when a file a response held is closed (`stats.filesOpen` went down). */
  onFileClosed?: () => void;
  /**
   * The clock (ms) for connection ages and response times: the reactor's batch clock, so timing
   * a request costs no clock reading of its own. Default `performance.now()`.
   */
  now?: () => number;
  /**
   * Called once per encoded response when it ends: the kernel accepted its last byte, or the
   * connection closed first (`done.complete` says which), with the body bytes that left and the
   * milliseconds since its request's head arrived (the access log, metrics). `done` is reused:
   * keep nothing of it. Without the hook, nothing is timed.
   */
  onComplete?: (session: HttpSession, done: ResponseDone) => void;
  /**
   * Fields every response carries, error answers of the HTTP layer included (--header),
   * pre-encoded with encodeFields().
   */
  headers?: Uint8Array;
}

type Limits = { readonly [T in Timeouts]: number };
/** Each server's timeouts, made once from its options (a per-connection copy cost ~300 bytes). */
const LIMITS = new WeakMap<ConnectionOptions, Limits>();

function limitsOf(options: ConnectionOptions): Limits {
  let limits = LIMITS.get(options);
  if (!limits) {
    limits = {
      headerTimeoutMs: options.headerTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs,
      writeTimeoutMs: options.writeTimeoutMs,
      lingerMs: options.lingerMs ?? LINGER_MS,
    };
    LIMITS.set(options, limits);
  }
  return limits;
}

/** One client connection. The server calls onReadable/onWritable from the reactor. */
export class Connection implements HttpSession, DeadlineTarget {
  /** HTTP/1.1 (the status page's and the metrics' label). */
  readonly protocol = "h1";
  /** When it was accepted, on the server's clock (ConnectionOptions.now). */
  readonly openedAt: number;
  #transport: Transport;
  #options: ConnectionOptions;
  #limits: Limits;
  #timer: Deadline;
  #intake: RequestIntake;
  #responses: ResponseQueue;
  #phase: Phase = "head";
  /** The request a head or idle deadline was armed for (see restartsPerRequest). */
  #armedFor = 0;
  /** Output waits for EPOLLOUT. */
  #blocked = false;
  #lingering = false;
  #peerClosed = false;
  #flushing = false;
  #consuming = false;
  #again = false;
  /** Made when a stream first waits for the next turn (most connections never do). */
  #onNextTurn: (() => void) | null = null;

  /**
   * @param transport the socket, seen through read/write/sendfile
   * @param options limits, handler and hooks shared by the server's connections
   */
  constructor(transport: Transport, options: ConnectionOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#limits = limitsOf(options);
    this.openedAt = options.now?.() ?? performance.now();
    this.#responses = new ResponseQueue(transport, options, this);
    this.#intake = new RequestIntake(options, this.#responses, transport, this);
    this.#timer = options.deadline(this);
    this.#enter("head");
    // Looked up (and kept by the transport) while the socket is connected: onComplete reads it
    // when a response ends, which may be after a reset, when getpeername(2) fails (ENOTCONN).
    if (options.onComplete) transport.remoteAddress();
  }

  /** The client's address, for logs. */
  get remoteAddress(): string {
    return this.#transport.remoteAddress();
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.#phase === "closed";
  }

  /**
   * What the connection waits for now (phases.ts). Asked from inside a handler, it is busy: the
   * phase is settled only once the handler has returned.
   */
  get phase(): Phase {
    return this.#consuming && this.#phase !== "closed" ? "busy" : this.#phase;
  }

  /** Requests whose heads have been read on this connection. */
  get requests(): number {
    return this.#intake.requests;
  }

  /** Output encoded and not yet taken by the kernel, in bytes (walks the queue: status page only). */
  get pendingBytes(): number {
    return this.#responses.pendingBytes;
  }

  /** The transport the connection drives (the status page asks its socket for kernel facts). */
  get transport(): Transport {
    return this.#transport;
  }

  /** Whether no request is in progress: nothing buffered, owed or being written. */
  get idle(): boolean {
    return this.#phase !== "closed" && this.#intake.state === READ.HEAD && !this.#intake.hasLeftover &&
      this.#responses.length === 0 && this.#responses.written;
  }
  /** HTTP/1.1 has no streams or windows (HttpSession). */
  streamFacts(): null {
    return null;
  }

  /** Reactor callback: the socket is readable (or has an error or hang-up pending). */
  onReadable(): void {
    if (this.#phase === "closed") return;
    const n = this.#intake.fill(this.#transport);
    if (n < 0) {
      if (n === IO.EAGAIN) return;
      if (n === IO.ECONNRESET) countClientLeft(this.#options.stats, "ECONNRESET");
      else countError(this.#options.stats, `read errno ${-n}`);
      return this.close();
    }
    if (n === 0) return this.#onPeerFin();
    this.#options.stats.bytesIn += n;
    if (this.#phase === "body") this.#timer.arm(this.#limits.bodyTimeoutMs); // progress
    if (this.#lingering) return; // read only to see the FIN
    this.#consuming = true;
    try {
      this.#intake.consume();
    } finally {
      this.#consuming = false;
    }
    this.#flush();
  }

  /** Reactor callback: the socket accepts more output. */
  onWritable(): void {
    if (this.#phase !== "closed") this.#flush();
  }

  /**
   * The peer sent FIN. A half-closed client still gets every answer that is ready; but one the
   * application is still making (a handler not done, a stream between chunks) is taken as a
   * client that left, as nginx (499) and hyper do: the connection closes, which aborts the
   * requests' signals, rather than hold the socket for an answer nobody may read.
   */
  #onPeerFin(): void {
    this.#peerClosed = true;
    if (this.#lingering || (this.#responses.length === 0 && this.#responses.written)) return this.close();
    this.#intake.peerClosed();
    this.#flush();
    if (this.#phase !== "closed" && this.#responses.awaitsApplication) {
      countClientLeft(this.#options.stats, "closed early");
      this.close();
    }
  }

  /** For the connection's parts: a handler threw, or its response cannot be sent. Logs, answers 500. */
  handlerFailed(e: unknown): HttpResponse {
    // Counted as the 500 it becomes, when encoded (responses.ts).
    logHandlerFailure(e);
    return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
  }

  /** For the response queue: a response ended (the access log and metrics hear it). */
  responseDone(done: ResponseDone): void {
    this.#options.onComplete!(this, done);
  }

  /** For the response queue: a file a response held was closed. */
  fileClosed(): void {
    this.#options.onFileClosed?.();
  }

  /** For the response queue: a stream spent this turn's allowance; go on at the next turn. */
  deferOutput(): void {
    const task = this.#onNextTurn ??= () => {
      if (this.#phase === "closed") return;
      this.#responses.resumeTurn();
      this.kick();
    };
    if (this.#options.nextTurn) this.#options.nextTurn(task);
    else setTimeout(task, 0);
  }

  /** Whether the connection would read now, were the socket readable. */
  #wantsInput(): boolean {
    return this.#intake.state !== READ.DONE && !this.#blocked && !this.#intake.paused();
  }

  /** Something changed outside the reactor's dispatch (a handler, a stream, a body's reader). */
  kick(): void {
    if (this.#phase === "closed") return;
    if (this.#flushing || this.#consuming) {
      this.#again = true;
      return;
    }
    this.#flush();
  }

  /**
   * Writes every ready response, in order, until done or the socket is full; then either
   * finishes the connection, serves requests read before a pause, or settles.
   */
  #flush(): void {
    if (this.#flushing || this.#phase === "closed") return;
    this.#flushing = true;
    try {
      for (;;) {
        this.#again = false;
        const result = this.#responses.write();
        if (this.#responses.takeSent() > 0 && this.#phase === "writing") {
          this.#timer.arm(this.#limits.writeTimeoutMs); // progress
        }
        if (result === DRAIN.FAILED) {
          this.#responses.countFailure();
          return this.close();
        }
        this.#blocked = result === DRAIN.BLOCKED;
        if (result === DRAIN.DONE && this.#responses.upgrade !== null) return this.#handOver();
        if (this.#responses.closing && !this.#intake.ended) this.#intake.stopAfterClosingResponse();
        if (result === DRAIN.DONE && this.#intake.ended && this.#responses.length === 0) {
          return this.#finish();
        }
        // Requests read before a pause: serve them without waiting for input.
        if (this.#wantsInput() && this.#intake.resume()) continue;
        if (!this.#again) break;
      }
    } finally {
      this.#flushing = false;
    }
    this.#settle();
  }

  /** The phase the facts put the connection in. */
  #currentPhase(): Phase {
    if (this.#lingering) return "linger";
    if (this.#blocked) return "writing";
    if (this.#responses.written && this.#wantsInput()) {
      if (this.#intake.state === READ.BODY) return "body";
      if (this.#intake.hasLeftover || this.#intake.requests === 0) return "head";
      if (this.#responses.length === 0) return "idle";
    }
    return "busy";
  }

  /**
   * Puts the connection in the phase its facts say, arming that phase's deadline, and sets the
   * epoll interest. Entering the same phase again restarts its deadline only for a new request
   * (restartsPerRequest); the body and write deadlines restart on progress instead.
   */
  #settle(): void {
    if (this.#phase === "closed") return;
    const phase = this.#currentPhase();
    if (phase !== this.#phase || (restartsPerRequest(phase) && this.#armedFor !== this.#intake.requests)) {
      this.#enter(phase);
    }
    // While no more requests will be read, keep reading to see the FIN or bytes sent after
    // the last request (they decide between closing at once and lingering).
    const watch = this.#intake.state === READ.DONE && !this.#peerClosed && this.#responses.filesHeld === 0;
    const readable = this.#lingering || (!this.#blocked && (this.#wantsInput() || watch));
    this.#transport.setInterest(readable, this.#blocked);
  }

  #enter(phase: Phase): void {
    this.#phase = phase;
    this.#armedFor = this.#intake.requests;
    const timeout = PHASE_TIMEOUT[phase];
    if (timeout === null) this.#timer.disarm();
    else this.#timer.arm(this.#limits[timeout]);
  }

  /** The deadline of the phase the connection is in has passed (the reactor calls it). */
  onTimer(): void {
    const stats = this.#options.stats;
    switch (this.#phase) {
      case "head":
      case "body":
        countError(stats, this.#phase === "head" ? "header timeout" : "body timeout");
        // RFC 9110 §15.5.9: 408 tells the client the server closed an unfinished request.
        this.#intake.refuse(new HttpError(STATUS.REQUEST_TIMEOUT, "Request Timeout"));
        return this.#flush();
      case "writing":
        countError(stats, "write timeout");
        return this.close();
      case "idle":
      case "linger":
        return this.close();
    }
  }

  /**
   * Ends the connection after its last response. When the client may still be sending (an
   * error cut its request short, or bytes arrived after the last request), closing at once
   * would make the kernel answer those bytes with an RST that can destroy the response before
   * the client reads it; so send FIN and read until the peer's FIN, at most LINGER_MS
   * (RFC 9112 §9.6). Otherwise, as nginx does, close at once.
   */
  #finish(): void {
    if (this.#peerClosed || (!this.#intake.unread && !this.#intake.hasLeftover)) return this.close();
    this.#transport.shutdownWrite();
    this.#intake.close();
    this.#lingering = true;
    this.#settle();
  }

  /**
   * The 101 is written: the protocol named in it takes the transport and the bytes the client
   * sent after its request. This connection lets go of both, and is closed; the transport is
   * the new session's to close.
   */
  #handOver(): void {
    const upgrade = this.#responses.upgrade!;
    const buffered = this.#intake.takeBuffered();
    this.#phase = "closed";
    this.#timer.dispose();
    this.#intake.close();
    this.#responses.close(CUT_SHORT);
    let session: Session;
    try {
      session = upgrade(this.#transport, buffered);
    } catch (e) {
      countError(this.#options.stats, "upgrade");
      console.error(`Upgrade failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      this.#transport.close();
      this.#options.onClose?.(this);
      return;
    }
    this.#options.onUpgrade?.(this, session);
  }

  /** Closes at once when idle (graceful shutdown); returns whether it did. */
  closeIfIdle(): boolean {
    if (!this.idle) return false;
    this.close();
    return true;
  }

  /** Closes the connection and releases everything it holds. Safe to call twice. */
  close(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#timer.dispose();
    this.#intake.close();
    this.#responses.close(CUT_SHORT);
    this.#transport.close();
    this.#options.onClose?.(this);
  }
}
