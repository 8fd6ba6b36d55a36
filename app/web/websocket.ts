// upgradeWebSocket() as Deno has it, on rawserve's engine: the handshake checked strictly (RFC 6455
// §4.2.1), permessage-deflate negotiated (RFC 7692), and a `socket` that behaves as the web's
// WebSocket (WHATWG WebSockets: events, send(), close() and its validation, readyState, exact
// bufferedAmount, binaryType). The socket opens when the handler returns that very response and
// the 101 is written; the protocol itself runs in http/ws/session.ts.

import { createHash } from "node:crypto";
import { ZStream } from "../../ffi/zlib.ts";
import { WebSocketSession, WS_STATE } from "../../http/ws/session.ts";
import {
  type CodecFactory,
  CodecPool,
  type DeflatePolicy,
  type Negotiated,
  negotiateDeflate,
  parseExtensions,
  PerMessageDeflate,
} from "../../http/ws/permessage_deflate.ts";
import { checkAppClose, CLOSE_REFUSAL } from "../../http/ws/close.ts";
import { CLOSE_CODE } from "../../http/ws/frame.ts";
import { checkMaxMessageSize, type MessageBudget } from "../../http/ws/receiver.ts";
import type { Deadline, HttpRequest, HttpResponse, Session, Transport } from "../../http/types.ts";
import type { HandlerInfo } from "./info.ts";
import { SYMBOLS } from "./internals.ts";
import { DEFAULTS } from "../defaults.ts";

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** RFC 6455 §4.2.1: a key is 16 random bytes in base64, 24 characters ending in "==". */
const KEY_PATTERN = /^[A-Za-z0-9+/]{21}[AQgw]==$/;
/** Deno's default idle timeout, in seconds: ping after this much silence, close after as long again. */
const DEFAULT_IDLE_TIMEOUT_S = 30;
/** deflate level 1: 17.7 µs per 4 KiB message against 24.5 at 6 for 1.2 points of ratio (scripts/ws_deflate_cost.ts). */
const DEFLATE_LEVEL = 1;
/** memLevel 8 (zlib's default): the pooled streams are few, so their memory is not per connection. */
const DEFLATE_MEM_LEVEL = 8;

const ENCODER = new TextEncoder();
/** WHATWG WebSockets: a text message is decoded with "UTF-8 decode without BOM": a BOM is kept. */
const DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
/** The budget of sockets whose server gave none (DEFAULTS.maxWebSocketMemoryBytes for the process). */
const MESSAGE_BUDGET: MessageBudget = { used: 0, limit: DEFAULTS.maxWebSocketMemoryBytes };

/**
 * Options of {@linkcode upgradeWebSocket}: Deno's, and rawserve's limits.
 * @example
 * ```ts
 * import type { UpgradeWebSocketOptions } from "@rawserve/rawserve";
 * const options: UpgradeWebSocketOptions = { protocol: "chat", idleTimeout: 60, maxMessageSize: 1 << 20 };
 * ```
 */
export interface UpgradeWebSocketOptions {
  /** The subprotocol to answer with; the client must have offered it (Sec-WebSocket-Protocol). */
  protocol?: string;
  /**
   * Seconds of silence after which the client is pinged; if it stays silent as long again, the
   * socket closes (1001, with an error event), as in Deno. 0 disables it. Default 30.
   */
  idleTimeout?: number;
  /**
   * Largest message accepted, across fragments and inflated (1009 beyond). Default 64 MiB, at most
   * 1 GiB (upgradeWebSocket() throws a RangeError beyond).
   */
  maxMessageSize?: number;
  /**
   * Output queued for a client that does not read, past which it is closed with 1008. Default 16 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * permessage-deflate (RFC 7692), used when the client offers it (default true). Without
   * context takeover (the default) each message is compressed alone by a stream shared by every
   * connection, so an idle socket holds no compression memory; `{ contextTakeover: true }` keeps
   * a compressor per connection (~120 KiB more each) for better ratios on similar messages.
   */
  compression?: boolean | { contextTakeover: boolean };
}

/** What serve() and the CLI give the WebSockets of their server. */
export interface WebSocketContext {
  /** Makes a session's deadline on the server's reactor (set once the server exists). */
  deadline: ((callback: () => void) => Deadline) | null;
  /** --write-timeout / writeTimeoutMs: a client that takes no output this long is closed. */
  writeTimeoutMs: number;
  /** Time the close handshake may take (graceful shutdown waits for it). */
  closeTimeoutMs?: number;
  /**
   * Received message bytes (assembled or inflated) all the server's sockets may hold; past it a
   * socket fails with 1013 (default: one budget of DEFAULTS.maxWebSocketMemoryBytes per process).
   */
  messageBudget?: MessageBudget;
}

/** A request rawserve received that asks to upgrade to websocket, until its handler has answered. */
interface Candidate {
  http: HttpRequest;
  info: HandlerInfo;
  context: WebSocketContext;
  /** The upgrade made for it, once upgradeWebSocket() was called. */
  upgrade: ServerWebSocket | null;
}

const CANDIDATES = new WeakMap<Request, Candidate>();
/** The engine responses of the responses upgradeWebSocket() made. */
const RESPONSES = new WeakMap<Response, ServerWebSocket>();

/**
 * Whether a request asks for a WebSocket (head.upgrade names websocket): only those are
 * registered, so other requests pay nothing.
 */
export function asksForWebSocket(http: HttpRequest): boolean {
  const upgrade = http.head.upgrade;
  return upgrade !== null && upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/** The web bridge: `request` (made for `http`) may be upgraded by its handler. */
export function registerCandidate(
  request: Request,
  http: HttpRequest,
  info: HandlerInfo,
  context: WebSocketContext,
): void {
  CANDIDATES.set(request, { http, info, context, upgrade: null });
}

/**
 * The web bridge, once the handler answered `request`: the engine response for an upgrade's
 * response, or null for any other answer; an upgrade answered otherwise (or not at all, when
 * `response` is null because the handler threw) fails its socket, as in Deno.
 */
export function settleCandidate(request: Request, response: Response | null): HttpResponse | null {
  const candidate = CANDIDATES.get(request);
  if (!candidate) return null;
  CANDIDATES.delete(request);
  const socket = candidate.upgrade;
  if (socket === null) return null;
  if (response !== null && RESPONSES.get(response) === socket) {
    RESPONSES.delete(response);
    return socket[ENGINE_RESPONSE]();
  }
  socket[FAIL_CONNECTING]("The handler did not return the upgrade's response");
  return null;
}

/** A token in a comma-separated field (RFC 9110 §5.6.1), case-insensitive. */
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  return value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Upgrades a request to a WebSocket, as `Deno.upgradeWebSocket` does, stricter where RFC 6455
 * requires it. Return `response` from the handler: the socket opens once its 101 is written.
 * A request rawserve did not receive (one of Deno.serve's) is passed to Deno.upgradeWebSocket.
 * @param request a GET with `Upgrade: websocket`, `Connection: upgrade`, a valid
 *   `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`
 * @returns the socket and the 101 response to return
 * @throws {TypeError} for a request that is not a valid upgrade (answer 400, or 426 with
 *   `Sec-WebSocket-Version: 13` for another version, RFC 6455 §4.4), a protocol the client did
 *   not offer, a body already used, or a request upgraded already
 * @throws {RangeError} for a maxMessageSize that is not an integer from 0 to 1 GiB
 * @example
 * ```ts
 * import { serve, upgradeWebSocket } from "@rawserve/rawserve";
 * serve((request) => {
 *   if (request.headers.get("upgrade") !== "websocket") return new Response("Hello");
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data); // echo
 *   return response;
 * });
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): { socket: WebSocket; response: Response } {
  const candidate = CANDIDATES.get(request);
  if (!candidate) {
    // Not a request of rawserve's: Deno's own upgrade (Deno.serve), which checks it as it does.
    return Deno.upgradeWebSocket(request, options as Deno.UpgradeWebSocketOptions);
  }
  const headers = request.headers;
  if (request.method !== "GET") throw new TypeError("A WebSocket upgrade is a GET request (RFC 6455 §4.1)");
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    throw new TypeError("Invalid Header: 'upgrade' header must contain 'websocket'");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new TypeError("Invalid Header: 'connection' header must contain 'Upgrade'");
  }
  const version = headers.get("sec-websocket-version");
  if (version !== "13") {
    throw new TypeError(
      `Invalid Header: 'sec-websocket-version' must be 13, not ${JSON.stringify(version)} ` +
        "(answer 426 with Sec-WebSocket-Version: 13, RFC 6455 §4.4)",
    );
  }
  const key = headers.get("sec-websocket-key");
  if (key === null || !KEY_PATTERN.test(key)) {
    throw new TypeError("Invalid Header: 'sec-websocket-key' must be 16 bytes in base64 (RFC 6455 §4.1)");
  }
  const protocol = options.protocol ?? "";
  if (protocol !== "" && !hasToken(headers.get("sec-websocket-protocol"), protocol.toLowerCase())) {
    throw new TypeError(`Protocol '${protocol}' not in the request's protocol list (non negotiable)`);
  }
  if (request.bodyUsed) throw new TypeError("The request's body was used already");
  if (options.maxMessageSize !== undefined) checkMaxMessageSize(options.maxMessageSize);
  if (candidate.upgrade !== null) throw new TypeError("The request was upgraded already");

  const compression = options.compression ?? true;
  let negotiated: Negotiated | null = null;
  if (compression !== false) {
    const offers = parseExtensions(headers.get("sec-websocket-extensions") ?? "");
    const keep = typeof compression === "object" && compression.contextTakeover;
    const policy: DeflatePolicy = { serverContextTakeover: keep, clientContextTakeover: keep };
    negotiated = offers && negotiateDeflate(offers, policy);
  }
  const accept = createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
  const fields: [string, string][] = [["Upgrade", "websocket"], ["Connection", "Upgrade"], [
    "Sec-WebSocket-Accept",
    accept,
  ]];
  if (protocol !== "") fields.push(["Sec-WebSocket-Protocol", protocol]);
  if (negotiated) fields.push(["Sec-WebSocket-Extensions", negotiated.answer]);

  const socket = new ServerWebSocket(request.url, protocol, negotiated, fields, candidate.context, options);
  candidate.upgrade = socket;
  const response = switchingProtocols(fields);
  RESPONSES.set(response, socket);
  // The 101 never written (the client left first): the socket fails instead of staying CONNECTING.
  candidate.info.completed.then(() => socket[FAIL_CONNECTING]("The client left before the upgrade"));
  return { socket: socket as unknown as WebSocket, response };
}

/**
 * A Response standing for the 101: status 101 where Deno's private fields allow it (a public
 * Response cannot have it), else 200; the engine sends the 101 either way.
 */
function switchingProtocols(fields: [string, string][]): Response {
  const response = new Response(null, { headers: fields });
  const inner = SYMBOLS.response?.inner;
  if (inner) {
    const innerResponse = (response as unknown as Record<symbol, { status?: number }>)[inner];
    if (innerResponse && typeof innerResponse.status === "number") innerResponse.status = 101;
  }
  return response;
}

/** Streams without context, shared by every socket of the process (made at first use). */
let POOL: CodecPool | null = null;
const FACTORY: CodecFactory = {
  deflater: (windowBits) => ZStream.deflater(windowBits, DEFLATE_LEVEL, DEFLATE_MEM_LEVEL),
  inflater: (windowBits) => ZStream.inflater(windowBits),
};

/**
 * The bytes of the Blobs made for received messages: sending one back (an echo, a relay) needs no
 * asynchronous read, which costs ~8 µs a message. A Blob is immutable, so its bytes are these.
 */
const RECEIVED_BLOBS = new WeakMap<Blob, Uint8Array>();

// Friend methods of ServerWebSocket for this module (not visible on the web API).
const ENGINE_RESPONSE = Symbol("engine response");
const FAIL_CONNECTING = Symbol("fail connecting");

/** An event handler attribute (onopen, ...): the listener it registered and the current function. */
interface HandlerSlot {
  fn: ((event: Event) => unknown) | null;
  listener: (event: Event) => void;
}

/**
 * The server side of a WebSocket, as the web's WebSocket: an EventTarget whose prototype chain
 * includes WebSocket.prototype (`instanceof WebSocket` holds) and which overrides every member.
 */
class ServerWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  #url: string;
  /** The origin of `url`, for MessageEvent.origin (made at the first message). */
  #origin: string | null = null;
  #protocol: string;
  #negotiated: Negotiated | null;
  #fields: [string, string][];
  #context: WebSocketContext;
  #options: UpgradeWebSocketOptions;
  #session: WebSocketSession | null = null;
  /** Before the session exists: CONNECTING, or CLOSING/CLOSED when close() or a failure came first. */
  #state: number = WS_STATE.CONNECTING;
  #closeRequest: { code: number; reason: string } | null = null;
  #binaryType: BinaryType = "blob";
  #handlers = new Map<string, HandlerSlot>();
  /** Bytes of Blobs being read, and bytes sent once closing (the standard counts both). */
  #unsentBytes = 0;
  #lostBytes = 0;
  /** Sends wait behind a Blob being read, in order. */
  #chain: Promise<void> | null = null;

  constructor(
    url: string,
    protocol: string,
    negotiated: Negotiated | null,
    fields: [string, string][],
    context: WebSocketContext,
    options: UpgradeWebSocketOptions,
  ) {
    super();
    this.#url = url;
    this.#protocol = protocol;
    this.#negotiated = negotiated;
    this.#fields = fields;
    this.#context = context;
    this.#options = options;
  }

  get url(): string {
    return this.#url;
  }
  get protocol(): string {
    return this.#protocol;
  }
  get extensions(): string {
    return this.#negotiated?.answer ?? "";
  }
  get readyState(): number {
    return this.#session?.state ?? this.#state;
  }
  /** Bytes sent and not yet taken by the kernel (exact), plus Blobs being read and sends after closing. */
  get bufferedAmount(): number {
    return (this.#session?.bufferedAmount ?? 0) + this.#unsentBytes + this.#lostBytes;
  }
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(value: BinaryType) {
    // WHATWG: other values are ignored.
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
  }

  get onopen(): ((event: Event) => unknown) | null {
    return this.#handler("open");
  }
  set onopen(fn: ((event: Event) => unknown) | null) {
    this.#setHandler("open", fn);
  }
  get onmessage(): ((event: MessageEvent) => unknown) | null {
    return this.#handler("message");
  }
  set onmessage(fn: ((event: MessageEvent) => unknown) | null) {
    this.#setHandler("message", fn as ((event: Event) => unknown) | null);
  }
  get onerror(): ((event: Event) => unknown) | null {
    return this.#handler("error");
  }
  set onerror(fn: ((event: Event) => unknown) | null) {
    this.#setHandler("error", fn);
  }
  get onclose(): ((event: CloseEvent) => unknown) | null {
    return this.#handler("close");
  }
  set onclose(fn: ((event: CloseEvent) => unknown) | null) {
    this.#setHandler("close", fn as ((event: Event) => unknown) | null);
  }

  #handler<T>(type: string): T | null {
    return (this.#handlers.get(type)?.fn ?? null) as T | null;
  }

  /** HTML event handler attributes: registered as a listener when first set, removed when null. */
  #setHandler(type: string, fn: ((event: Event) => unknown) | null): void {
    const slot = this.#handlers.get(type);
    if (typeof fn !== "function") fn = null;
    if (fn === null) {
      if (slot) {
        this.removeEventListener(type, slot.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (slot) {
      slot.fn = fn;
      return;
    }
    const created: HandlerSlot = { fn, listener: (event) => created.fn?.call(this, event) };
    this.#handlers.set(type, created);
    this.addEventListener(type, created.listener);
  }

  /**
   * Sends a message (WHATWG send()): a string as text, an ArrayBuffer, a view or a Blob as
   * binary. The bytes are copied. Once closing, the message is dropped and counted.
   * @throws {DOMException} InvalidStateError while CONNECTING
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.readyState === WS_STATE.CONNECTING) {
      throw new DOMException("The WebSocket is not open yet", "InvalidStateError");
    }
    if (data instanceof Blob) {
      const known = RECEIVED_BLOBS.get(data);
      if (known !== undefined && this.#chain === null) return this.#deliver(false, known);
      const size = data.size;
      this.#unsentBytes += size;
      const chain = (this.#chain ?? Promise.resolve()).then(async () => {
        const bytes = await data.bytes();
        this.#unsentBytes -= size;
        this.#deliver(false, bytes);
      }).catch(() => {
        this.#unsentBytes -= size;
      }).finally(() => {
        if (this.#chain === chain) this.#chain = null;
      });
      this.#chain = chain;
      return;
    }
    let text: boolean;
    let bytes: Uint8Array;
    if (typeof data === "string") {
      text = true;
      bytes = ENCODER.encode(data);
    } else if (ArrayBuffer.isView(data)) {
      text = false;
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
      text = false;
      bytes = new Uint8Array(data).slice();
    } else {
      text = true;
      bytes = ENCODER.encode(String(data)); // WebIDL: anything else converts to a string
    }
    if (this.#chain) {
      this.#unsentBytes += bytes.length;
      const chain = this.#chain.then(() => {
        this.#unsentBytes -= bytes.length;
        this.#deliver(text, bytes);
      }).finally(() => {
        if (this.#chain === chain) this.#chain = null;
      });
      this.#chain = chain;
      return;
    }
    this.#deliver(text, bytes);
  }

  #deliver(text: boolean, bytes: Uint8Array): void {
    if (this.#session !== null && this.#session.state === WS_STATE.OPEN) this.#session.send(text, bytes);
    else this.#lostBytes += bytes.length;
  }

  /**
   * Begins the closing handshake (WHATWG close()).
   * @param code 1000 or 3000-4999
   * @param reason at most 123 bytes as UTF-8
   * @throws {DOMException} InvalidAccessError for another code, SyntaxError for a longer reason
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined) code = clampUnsignedShort(code);
    const refused = checkAppClose(code, reason);
    if (refused === CLOSE_REFUSAL.CODE) {
      throw new DOMException(`The close code must be 1000 or 3000-4999, not ${code}`, "InvalidAccessError");
    }
    if (refused === CLOSE_REFUSAL.REASON) {
      throw new DOMException("The close reason must be at most 123 bytes as UTF-8", "SyntaxError");
    }
    const wire = code ?? CLOSE_CODE.NO_STATUS;
    if (this.#session !== null) return this.#session.beginClose(wire, reason ?? "");
    if (this.#state === WS_STATE.CONNECTING) {
      // The 101 is not written yet: the socket closes as soon as it opens.
      this.#state = WS_STATE.CLOSING;
      this.#closeRequest = { code: wire, reason: reason ?? "" };
    }
  }

  /** The engine response for the 101: the session is made when the head is written. */
  [ENGINE_RESPONSE](): HttpResponse {
    const headers: string[] = [];
    for (const [name, value] of this.#fields) headers.push(name, value);
    return { status: 101, headers, upgrade: (transport, buffered) => this.#open(transport, buffered) };
  }

  /**
   * The 101 is written: the session takes the transport, "open" fires, then input is read. If this
   * throws, the socket fails first (error, close 1006) and what it holds is released; the
   * connection then closes the transport.
   */
  #open(transport: Transport, buffered: Uint8Array): Session {
    let deflate: PerMessageDeflate | null = null;
    try {
      const context = this.#context;
      if (context.deadline === null) {
        throw new Error("WebSockets need the server's reactor (WebSocketContext.deadline)");
      }
      if (this.#negotiated) {
        deflate = new PerMessageDeflate(this.#negotiated.params, POOL ??= new CodecPool(FACTORY));
      }
      const session = this.#makeSession(transport, buffered, context, deflate);
      this.#session = session;
      const request = this.#closeRequest;
      if (request !== null) session.beginClose(request.code, request.reason);
      else this.dispatchEvent(new Event("open"));
      session.start();
      return session;
    } catch (e) {
      // The session's end fires error and close (1006) and frees its timer and zlib streams.
      if (this.#session !== null) this.#session.close();
      else {
        deflate?.close();
        this[FAIL_CONNECTING](`The upgrade failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      throw e;
    }
  }

  #makeSession(
    transport: Transport,
    buffered: Uint8Array,
    context: WebSocketContext,
    deflate: PerMessageDeflate | null,
  ): WebSocketSession {
    const idle = this.#options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_S;
    return new WebSocketSession(transport, buffered, {
      message: (text, data) => this.#onMessage(text, data),
      closed: (code, reason, clean) => this.#onClosed(code, reason, clean),
    }, {
      deadline: context.deadline!,
      idleTimeoutMs: Math.max(0, idle) * 1000,
      writeTimeoutMs: context.writeTimeoutMs,
      deflate,
      messageBudget: context.messageBudget ?? MESSAGE_BUDGET,
      ...(context.closeTimeoutMs !== undefined ? { closeTimeoutMs: context.closeTimeoutMs } : {}),
      ...(this.#options.maxMessageSize !== undefined ? { maxMessageSize: this.#options.maxMessageSize } : {}),
      ...(this.#options.maxQueuedBytes !== undefined ? { maxQueuedBytes: this.#options.maxQueuedBytes } : {}),
    });
  }

  #onMessage(text: boolean, data: Uint8Array): void {
    let payload: string | ArrayBuffer | Blob;
    if (text) payload = DECODER.decode(data);
    else if (this.#binaryType === "arraybuffer") {
      payload = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data.buffer as ArrayBuffer
        : data.slice().buffer;
    } else {
      payload = new Blob([data as Uint8Array<ArrayBuffer>]);
      RECEIVED_BLOBS.set(payload, data);
    }
    this.#origin ??= new URL(this.#url).origin;
    this.dispatchEvent(new MessageEvent("message", { data: payload, origin: this.#origin }));
  }

  /** WHATWG: an unclean close fires "error" first; then "close" with the code and reason. */
  #onClosed(code: number, reason: string, clean: boolean): void {
    if (!clean) {
      this.dispatchEvent(new ErrorEvent("error", { message: reason || `WebSocket closed (${code})` }));
    }
    this.dispatchEvent(new CloseEvent("close", { wasClean: clean, code, reason }));
  }

  /** The upgrade will never happen (another answer, a handler that threw, a client gone). */
  [FAIL_CONNECTING](message: string): void {
    if (this.#session !== null || this.#state === WS_STATE.CLOSED) return;
    this.#state = WS_STATE.CLOSED;
    this.dispatchEvent(new ErrorEvent("error", { message }));
    this.dispatchEvent(new CloseEvent("close", { wasClean: false, code: CLOSE_CODE.ABNORMAL, reason: "" }));
  }
}

/**
 * WebIDL `[Clamp] unsigned short`: NaN is 0, the value is clamped to 0-65535 and rounded to the
 * nearest integer, ties to even (so close(66536) is 65535 and refused, close(1000.7) is 1001).
 */
function clampUnsignedShort(value: unknown): number {
  const x = Number(value);
  if (Number.isNaN(x)) return 0;
  const clamped = Math.min(65535, Math.max(0, x));
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

// `socket instanceof WebSocket` holds, as for Deno's sockets; every member is ServerWebSocket's own.
Object.setPrototypeOf(ServerWebSocket.prototype, WebSocket.prototype);
