// A fetch handler, `(request, info) => Response`, as the engine's handler: each request becomes
// a web Request (request.ts), the handler's Response becomes the engine's (response.ts), and a
// handler that throws, or returns something that cannot be sent, gets onError's answer.

import { logHandlerFailure } from "../../http/stats.ts";
import { HttpError, STATUS, statusResponse } from "../../http/status.ts";
import type { Handler, HttpRequest, HttpResponse } from "../../http/types.ts";
import { HandlerInfo, type ServeHandlerInfo } from "./info.ts";
import { type Origin, requestOrigin, webRequest } from "./request.ts";
import { engineResponse, WebResponse } from "./response.ts";
import {
  asksForWebSocket,
  loadWebSocketSupport,
  registerCandidate,
  settleCandidate,
  type WebSocketContext,
} from "./websocket.ts";

/**
 * What an application gives: Deno.ServeHandler's shape.
 * @example
 * ```ts
 * import type { FetchHandler } from "@rawserve/rawserve";
 * const handler: FetchHandler = (request, info) =>
 *   new Response(`${request.method} ${new URL(request.url).pathname} from ${info.remoteAddr.hostname}`);
 * ```
 */
export type FetchHandler = (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>;

/**
 * Answers for a handler that failed: Deno.ServeOptions.onError's shape.
 * @example
 * ```ts
 * import type { ErrorHandler } from "@rawserve/rawserve";
 * const onError: ErrorHandler = (error) =>
 *   Response.json({ error: error instanceof Error ? error.message : "failed" }, { status: 500 });
 * ```
 */
export type ErrorHandler = (error: unknown) => Response | Promise<Response>;

/** Options for {@linkcode fetchHandler}. */
export interface FetchHandlerOptions {
  /** The scheme and fallback authority of request URLs (read when a request is made). */
  origin: Origin;
  /** The answer for a handler that throws; by default the error is logged and 500 answered. */
  onError?: ErrorHandler;
  /** The server's facilities for WebSockets; without it, upgradeWebSocket() refuses rawserve's requests. */
  websocket?: WebSocketContext;
}

/** Deno.serve's default: log the error, answer 500. */
function defaultOnError(error: unknown): Response {
  logHandlerFailure(error);
  return new Response("Internal Server Error", { status: STATUS.INTERNAL_SERVER_ERROR });
}

/**
 * Adapts a fetch handler to the engine.
 * @param handle the application's handler
 * @param options request URLs and error answers
 * @returns an engine handler
 */
export function fetchHandler(handle: FetchHandler, options: FetchHandlerOptions): Handler {
  const onError = options.onError ?? defaultOnError;
  const origin = options.origin;
  const websocket = options.websocket ?? null;
  // Made once, not per request: the answer to a failure, and what an upgradable request needs.
  const failed = (error: unknown) => answerFailure(error, onError);
  const upgradable = { handle, origin, failed };

  return function handleFetch(http: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const method = http.head.method;
    // A web Request cannot carry these (the Fetch standard forbids them), and rawserve does not
    // tunnel (RFC 9110 §9.3.6) or reflect requests (§9.3.8).
    if (method === "CONNECT" || method === "TRACE") return statusResponse(STATUS.NOT_IMPLEMENTED);
    const info = new HandlerInfo(http);
    if (websocket && asksForWebSocket(http)) return handleUpgradable(http, info, websocket, upgradable);
    let result: Response | Promise<Response>;
    try {
      result = handle(webRequest(http.head, http.body, { origin: requestOrigin(http, origin), info }), info);
    } catch (error) {
      return failed(error);
    }
    if (result instanceof WebResponse) {
      try {
        return engineResponse(result);
      } catch (error) {
        return failed(error);
      }
    }
    return Promise.resolve(result).then(engineResponse).catch(failed);
  };
}

/**
 * A request asking for a WebSocket: the handler may call upgradeWebSocket() on it, and its
 * answer is either that upgrade's 101 or an ordinary response (the socket then fails, as in Deno).
 */
async function handleUpgradable(
  http: HttpRequest,
  info: HandlerInfo,
  context: WebSocketContext,
  { handle, origin, failed }: {
    handle: FetchHandler;
    origin: Origin;
    failed: (error: unknown) => HttpResponse | Promise<HttpResponse>;
  },
): Promise<HttpResponse> {
  // What upgrades need is loaded at the first request that asks for one (then never again).
  const loading = loadWebSocketSupport();
  if (loading !== null) await loading;
  const request = webRequest(http.head, http.body, { origin: requestOrigin(http, origin), info });
  registerCandidate(request, http, info, context);
  let response: unknown;
  try {
    response = await handle(request, info);
  } catch (error) {
    settleCandidate(request, null);
    return failed(error);
  }
  const upgrade = settleCandidate(request, response instanceof WebResponse ? response : null);
  if (upgrade) return upgrade;
  try {
    return engineResponse(response);
  } catch (error) {
    return failed(error);
  }
}

/** The answer when the handler, or the conversion of its Response, failed. */
function answerFailure(error: unknown, onError: ErrorHandler): HttpResponse | Promise<HttpResponse> {
  // The engine refused the request's body (too large, malformed, too slow) and answers it
  // itself; the handler's rejection that followed is not the application's bug.
  if (error instanceof HttpError) return statusResponse(error.status);
  try {
    const answer = onError(error);
    if (answer instanceof WebResponse) return engineResponse(answer);
    return Promise.resolve(answer).then(engineResponse).catch(onErrorFailed);
  } catch (nested) {
    return onErrorFailed(nested);
  }
}

/** onError itself failed: log both and answer 500. */
function onErrorFailed(error: unknown): HttpResponse {
  console.error(`onError failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
}
