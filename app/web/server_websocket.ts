// The server's WebSocket object, loaded by import() at the first request that asks for one
// (websocket.ts, through websocket_upgrade.ts): a `socket` that behaves as the web's WebSocket
// (WHATWG WebSockets: events, send(), close() and its validation, readyState, exact
// bufferedAmount, binaryType) over the protocol in http/ws/session.ts, with permessage-deflate
// (RFC 7692). serve() users who never upgrade never load it, nor zlib.

import { ZStream } from "../../ffi/zlib.ts";
import { WebSocketSession } from "../../http/ws/session.ts";
import { type SessionEvents, WS_STATE } from "../../http/ws/session_options.ts";
import {
  type CodecFactory,
  CodecPool,
  type Negotiated,
  PerMessageDeflate,
} from "../../http/ws/permessage_deflate.ts";
import { checkAppClose, CLOSE_REFUSAL } from "../../http/ws/close.ts";
import { CLOSE_CODE } from "../../http/ws/frame.ts";
import type { MessageBudget } from "../../http/ws/receiver.ts";
import { DEFAULTS } from "../defaults.ts";
import type { HttpResponse, Session, Transport } from "../../http/types.ts";
import type { RequestHead } from "../../http/request_head.ts";
import {
  ENGINE_RESPONSE,
  FAIL_CONNECTING,
  type UpgradeWebSocketOptions,
  type WebSocketContext,
} from "./websocket.ts";

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

/** Who asked, for the access log's closing line (a friend field: not visible on the web API). */
export const LOGGED = Symbol("logged");

/** The events a socket has handler attributes for (onopen, ...). */
const EVENT_TYPES = ["open", "message", "error", "close"] as const;
type EventType = typeof EVENT_TYPES[number];

/**
 * The server side of a WebSocket, as the web's WebSocket: an EventTarget whose prototype chain
 * includes WebSocket.prototype (`instanceof WebSocket` holds) and which overrides every member.
 */
export class ServerWebSocket extends EventTarget {
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
  /** The 101's fields, until it is made (an open socket holds only what it needs). */
  #fields: [string, string][] | null;
  #context: WebSocketContext;
  /** The options, until the session is made from them. */
  #options: UpgradeWebSocketOptions | null;
  #session: WebSocketSession | null = null;
  /** Before the session exists: CONNECTING, or CLOSING/CLOSED when close() or a failure came first. */
  #state: number = WS_STATE.CONNECTING;
  #closeRequest: { code: number; reason: string } | null = null;
  /**
   * "arraybuffer", as Deno.upgradeWebSocket's sockets have it (the web's client WebSocket starts
   * with "blob"): code moved from Deno.serve gets the same type, and a message costs no Blob
   * (~3 µs each in Deno: op_blob_create_part, then its removal).
   */
  #binaryType: BinaryType = "arraybuffer";
  /** The four handler attributes' functions, in EVENT_TYPES order (an array, not a Map: ~0.2 KiB less a socket). */
  #handlers: (((event: Event) => unknown) | null)[] = [null, null, null, null];
  /** Bytes of Blobs being read, and bytes sent once closing (the standard counts both). */
  #unsentBytes = 0;
  #lostBytes = 0;
  /** Sends wait behind a Blob being read, in order. */
  #chain: Promise<void> | null = null;
  /** Who asked, for the access log's closing line (only when there is a log). */
  [LOGGED]: { remote: string; head: RequestHead } | null = null;

  /** The session's events for a socket: one small object, not two closures and their context. */
  static #Events = class implements SessionEvents {
    #socket: ServerWebSocket;
    constructor(socket: ServerWebSocket) {
      this.#socket = socket;
    }
    message(text: boolean, data: Uint8Array): void {
      this.#socket.#onMessage(text, data);
    }
    closed(code: number, reason: string, clean: boolean): void {
      this.#socket.#onClosed(code, reason, clean);
    }
  };

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

  #handler<T>(type: EventType): T | null {
    return (this.#handlers[EVENT_TYPES.indexOf(type)] ?? null) as T | null;
  }

  /**
   * HTML event handler attributes: registered as a listener when first set, removed when null.
   * The listener is one function per attribute shared by every socket, which calls the socket's
   * current function (no closure per socket).
   */
  #setHandler(type: EventType, fn: ((event: Event) => unknown) | null): void {
    const index = EVENT_TYPES.indexOf(type);
    const had = this.#handlers[index] !== null;
    if (typeof fn !== "function") fn = null;
    this.#handlers[index] = fn;
    if (fn === null && had) this.removeEventListener(type, ServerWebSocket.#attributeListeners[index]!);
    else if (fn !== null && !had) this.addEventListener(type, ServerWebSocket.#attributeListeners[index]!);
  }

  /** The listeners of the handler attributes, in EVENT_TYPES order (see #setHandler). */
  static #attributeListeners = EVENT_TYPES.map((_, index) => (event: Event): void => {
    const socket = event.currentTarget as ServerWebSocket;
    socket.#handlers[index]?.call(socket, event);
  });

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
    // The application's bytes are viewed, not copied: the session copies what it keeps (a small
    // frame is made from them at once), so send() takes them as they are now, as the standard says.
    let owned = false;
    if (typeof data === "string") {
      text = true;
      bytes = ENCODER.encode(data);
      owned = true;
    } else if (ArrayBuffer.isView(data)) {
      text = false;
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
      text = false;
      bytes = new Uint8Array(data);
    } else {
      text = true;
      bytes = ENCODER.encode(String(data)); // WebIDL: anything else converts to a string
      owned = true;
    }
    if (this.#chain) {
      if (!owned) bytes = bytes.slice(); // sent later: the bytes as they are now
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
    this.#deliver(text, bytes, owned);
  }

  #deliver(text: boolean, bytes: Uint8Array, owned = true): void {
    if (this.#session !== null && this.#session.state === WS_STATE.OPEN) {
      this.#session.send(text, bytes, owned);
    } else this.#lostBytes += bytes.length;
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
    for (const [name, value] of this.#fields!) headers.push(name, value);
    this.#fields = null;
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
      if (this.#context.deadline === null) {
        throw new Error("WebSockets need the server's reactor (WebSocketContext.deadline)");
      }
      if (this.#negotiated) {
        deflate = new PerMessageDeflate(this.#negotiated.params, POOL ??= new CodecPool(FACTORY));
      }
      const session = this.#makeSession(transport, buffered, deflate);
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
    deflate: PerMessageDeflate | null,
  ): WebSocketSession {
    const context = this.#context;
    const options = this.#options!;
    this.#options = null;
    const idle = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_S;
    return new WebSocketSession(transport, buffered, new ServerWebSocket.#Events(this), {
      deadline: context.deadline!,
      idleTimeoutMs: Math.max(0, idle) * 1000,
      writeTimeoutMs: context.writeTimeoutMs,
      deflate,
      extensions: this.extensions,
      messageBudget: context.messageBudget ?? MESSAGE_BUDGET,
      ...(context.totals ? { totals: context.totals } : {}),
      ...(context.closeTimeoutMs !== undefined ? { closeTimeoutMs: context.closeTimeoutMs } : {}),
      ...(options.maxMessageSize !== undefined ? { maxMessageSize: options.maxMessageSize } : {}),
      ...(options.maxQueuedBytes !== undefined ? { maxQueuedBytes: options.maxQueuedBytes } : {}),
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
    const logged = this[LOGGED];
    const session = this.#session;
    if (logged !== null && session !== null && this.#context.ended) {
      this[LOGGED] = null;
      const { ageMs, bytesIn, bytesOut } = session.describe();
      this.#context.ended({ ...logged, code, ms: ageMs, bytesIn, bytesOut });
    }
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
