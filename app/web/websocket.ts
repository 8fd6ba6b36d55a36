// upgradeWebSocket() as Deno has it, on rawserve's engine: the handshake checked strictly (RFC 6455
// §4.2.1), and the bridge that tells the web layer which requests may be upgraded and which
// answer opens a socket. This module is all that serve() loads: the socket, permessage-deflate
// and the protocol (websocket_upgrade.ts, server_websocket.ts, http/ws/) are loaded by import()
// when the first request that asks for a WebSocket arrives, before its handler runs, so
// upgradeWebSocket() stays synchronous and a server that never upgrades never loads them.

import type { Deadline, DeadlineTarget, HttpRequest, HttpResponse } from "../../http/types.ts";
import type { RequestHead } from "../../http/request_head.ts";
import type { WebSocketTotals } from "../../http/ws/stats.ts";
import type { MessageBudget } from "../../http/ws/receiver.ts";
import type { HandlerInfo } from "./info.ts";

type Implementation = typeof import("./websocket_upgrade.ts");

/** RFC 6455 §4.2.1: a key is 16 random bytes in base64, 24 characters ending in "==". */
const KEY_PATTERN = /^[A-Za-z0-9+/]{21}[AQgw]==$/;
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
  deadline: ((target: (() => void) | DeadlineTarget) => Deadline) | null;
  /** --write-timeout / writeTimeoutMs: a client that takes no output this long is closed. */
  writeTimeoutMs: number;
  /** Time the close handshake may take (graceful shutdown waits for it). */
  closeTimeoutMs?: number;
  /** The server's WebSocket totals (the status page, metrics), set with `deadline`. */
  totals?: WebSocketTotals | null;
  /**
   * Received message bytes (assembled or inflated) all the server's sockets may hold; past it a
   * socket fails with 1013 (default: one budget of DEFAULTS.maxWebSocketMemoryBytes per process).
   */
  messageBudget?: MessageBudget;
  /** Hears each WebSocket as it ends (the access log's closing line); null: nobody listens. */
  ended?: ((ended: WebSocketEnded) => void) | null;
}

/** A WebSocket that ended, for the access log. */
export interface WebSocketEnded {
  /** The client's address. */
  remote: string;
  /** The upgrade request: its request line, Referer and User-Agent (a copy). */
  head: RequestHead;
  /** The close code the application heard. */
  code: number;
  /** Milliseconds from the 101 to the end. */
  ms: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * What websocket.ts asks of the socket server_websocket.ts makes, by symbols that the web API
 * does not show.
 */
export interface PendingSocket {
  /** The engine response for the 101: the session is made when the head is written. */
  [ENGINE_RESPONSE](): HttpResponse;
  /** The upgrade will never happen (another answer, a handler that threw, a client gone). */
  [FAIL_CONNECTING](message: string): void;
}

/** Friend methods of the socket (not visible on the web API). */
export const ENGINE_RESPONSE: unique symbol = Symbol("engine response");
export const FAIL_CONNECTING: unique symbol = Symbol("fail connecting");

/** A request rawserve received that asks to upgrade to websocket, until its handler has answered. */
export interface Candidate {
  http: HttpRequest;
  info: HandlerInfo;
  context: WebSocketContext;
  /** The upgrade made for it, once upgradeWebSocket() was called. */
  upgrade: PendingSocket | null;
}

/** websocket_upgrade.ts, once loaded. */
let implementation: Implementation | null = null;
let loading: Promise<Implementation> | null = null;

/**
 * Loads what upgrades need (websocket_upgrade.ts, server_websocket.ts, the protocol, zlib's
 * bindings), once; the web bridge awaits it before it hands the first upgradable request to its
 * handler.
 */
export function loadWebSocketSupport(): Promise<Implementation> | null {
  if (implementation !== null) return null;
  return loading ??= import("./websocket_upgrade.ts").then((module) => implementation = module);
}

const CANDIDATES = new WeakMap<Request, Candidate>();
/** The engine responses of the responses upgradeWebSocket() made. */
const RESPONSES = new WeakMap<Response, PendingSocket>();

/** `websocket` as one of the comma-separated protocols of an Upgrade field. */
const WEBSOCKET_TOKEN = /(^|,)\s*websocket\s*(,|$)/i;

/**
 * Whether a request asks for a WebSocket (head.upgrade names websocket): only those are
 * registered, so other requests pay nothing.
 */
export function asksForWebSocket(http: HttpRequest): boolean {
  const upgrade = http.head.upgrade;
  // Most requests ask for no upgrade: "" is answered without running the expression.
  return upgrade !== "" && upgrade !== null && upgrade !== undefined && WEBSOCKET_TOKEN.test(upgrade);
}

/**
 * Whether rawserve received `request` and its handler may still upgrade it (deno_upgrade.ts asks,
 * to pass every other request to Deno's own upgrade).
 */
export function isRawserveRequest(request: Request): boolean {
  return CANDIDATES.has(request);
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
 * response (or any 101), or null for any other answer; an upgrade answered otherwise (or not at all, when
 * `response` is null because the handler threw) fails its socket, as in Deno.
 */
export function settleCandidate(request: Request, response: Response | null): HttpResponse | null {
  const candidate = CANDIDATES.get(request);
  if (!candidate) return null;
  CANDIDATES.delete(request);
  const socket = candidate.upgrade;
  if (socket === null) return null;
  // As Deno.serve does, any 101 counts: frameworks rebuild the response to add fields (Hono's
  // c.header() after the handler); its fields are the upgrade's either way.
  if (response !== null && (RESPONSES.get(response) === socket || response.status === 101)) {
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
  if (candidate.upgrade !== null) throw new TypeError("The request was upgraded already");

  // Loaded before the handler got the request (handler.ts awaits loadWebSocketSupport()).
  const { socket, response } = implementation!.createUpgrade(request, candidate, key, protocol, options);
  candidate.upgrade = socket;
  RESPONSES.set(response, socket);
  // The 101 never written (the client left first): the socket fails instead of staying CONNECTING.
  candidate.info.completed.then(() => socket[FAIL_CONNECTING]("The client left before the upgrade"));
  return { socket: socket as unknown as WebSocket, response };
}
