/**
 * rawserve as a library: `serve()` runs a fetch handler, `(request: Request, info) =>
 * Response`, on rawserve's engine (Linux system calls through Deno's FFI on one epoll reactor),
 * with the shape of `Deno.serve`, so that code moves by changing an import.
 *
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 *
 * const server = serve({ port: 8080 }, async (request, info) => {
 *   const url = new URL(request.url);
 *   if (url.pathname === "/echo" && request.method === "POST") {
 *     return new Response(await request.text());
 *   }
 *   return Response.json({ path: url.pathname, from: info.remoteAddr.hostname });
 * });
 * await server.finished;
 * ```
 *
 * @module
 */

export { type HttpServer, serve, type ServeOptions, type ServeUnixOptions } from "./app/web/serve.ts";
export type { ErrorHandler, FetchHandler } from "./app/web/handler.ts";
export type { NetAddr, ServeHandlerInfo, UnixAddr } from "./app/web/info.ts";
export { upgradeWebSocket, type UpgradeWebSocketOptions } from "./app/web/websocket.ts";
