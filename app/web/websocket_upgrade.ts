// What only upgrades need, loaded by import() at the first request that asks for one
// (websocket.ts): permessage-deflate's negotiation (RFC 7692), the 101's fields, and the
// ServerWebSocket that opens when the engine writes that 101.

import {
  type DeflatePolicy,
  type Negotiated,
  negotiateDeflate,
  parseExtensions,
} from "../../http/ws/permessage_deflate.ts";
import { checkMaxMessageSize } from "../../http/ws/receiver.ts";
import { acceptValue } from "../../http/ws/accept.ts";
import { RequestHead } from "../../http/request_head.ts";
import { SYMBOLS } from "./internals.ts";
import type { Candidate, UpgradeWebSocketOptions } from "./websocket.ts";
import { LOGGED, ServerWebSocket } from "./server_websocket.ts";

/**
 * The upgrade of a request websocket.ts checked: permessage-deflate negotiated, the 101's fields
 * and the socket, which opens when the engine writes that 101.
 * @param request the handler's request
 * @param key its valid Sec-WebSocket-Key
 * @param protocol the subprotocol to answer with, "" for none
 * @throws {RangeError} for a maxMessageSize past MAX_MESSAGE_LIMIT or not an integer
 */
export function createUpgrade(
  request: Request,
  candidate: Candidate,
  key: string,
  protocol: string,
  options: UpgradeWebSocketOptions,
): { socket: ServerWebSocket; response: Response } {
  if (options.maxMessageSize !== undefined) checkMaxMessageSize(options.maxMessageSize);
  const compression = options.compression ?? true;
  let negotiated: Negotiated | null = null;
  if (compression !== false) {
    const offers = parseExtensions(request.headers.get("sec-websocket-extensions") ?? "");
    const keep = typeof compression === "object" && compression.contextTakeover;
    const policy: DeflatePolicy = { serverContextTakeover: keep, clientContextTakeover: keep };
    negotiated = offers && negotiateDeflate(offers, policy);
  }
  const fields: [string, string][] = [
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Accept", acceptValue(key)],
  ];
  if (protocol !== "") fields.push(["Sec-WebSocket-Protocol", protocol]);
  if (negotiated) fields.push(["Sec-WebSocket-Extensions", negotiated.answer]);
  const socket = new ServerWebSocket(request.url, protocol, negotiated, fields, candidate.context, options);
  if (candidate.context.ended) {
    socket[LOGGED] = { remote: candidate.http.peer.remoteAddress(), head: logHead(candidate.http.head) };
  }
  return { socket, response: switchingProtocols(fields) };
}

/** The request line, Referer and User-Agent of `head`, copied (the connection reuses its own). */
function logHead(head: RequestHead): RequestHead {
  const copy = new RequestHead();
  copy.method = head.method;
  copy.target = head.target;
  copy.path = head.path;
  copy.major = head.major;
  copy.minor = head.minor;
  for (const name of ["referer", "user-agent"]) {
    const value = head.get(name);
    if (value !== undefined) copy.headers.push(name, value);
  }
  return copy;
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
