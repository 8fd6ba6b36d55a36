// The operator's paths, answered before the site's handler sees the request: --status (the
// kernel side of every connection, HTML or JSON), --metrics (Prometheus text) and --health.
// It is a handler wrapper, so whatever serves a Handler (the CLI, a serve() API) gets the same
// paths by wrapping its handler once; the site's requests pay one prefix test per path.

import type { Handler, HttpRequest, HttpResponse } from "../../http/types.ts";
import { STATUS, statusResponse } from "../../http/status.ts";
import { parseHost } from "../../ffi/sockaddr.ts";
import { collectStatus, type StatusSource } from "./server_status.ts";
import { METRICS_CONTENT_TYPE, renderGroupMetrics, renderMetrics } from "./metrics_text.ts";
import { summarizeGroup, type WorkerGroupView } from "./worker_group.ts";
import { renderStatusPage } from "./status_page.ts";
import { prefersJson } from "../../http/negotiation.ts";

/** Which paths answer what; a path left out is the site's as usual. */
export interface IntrospectionOptions {
  /** The status page (HTML, or JSON for `Accept: application/json`). */
  statusPath?: string | null;
  /** Answer the status page to any client, not only loopback ones. */
  statusPublic?: boolean;
  /** Prometheus text exposition. */
  metricsPath?: string | null;
  /** `200 ok` while serving, `503` (with `Connection: close`) while draining. */
  healthPath?: string | null;
  /** This process's place in a --workers group: pages and metrics say which worker answered. */
  worker?: { index: number } | null;
  /**
   * The files a --workers group shares (worker_group.ts): the metrics answer for the whole
   * group, and the status page lists the other workers. Without it each worker answers for itself.
   */
  group?: WorkerGroupView | null;
}

/** Whether any introspection path is configured (then responses are counted and timed). */
export function wantsIntrospection(options: IntrospectionOptions | undefined): boolean {
  return !!(options?.statusPath || options?.metricsPath || options?.healthPath);
}

/**
 * Whether a peer address is this machine's loopback: 127.0.0.0/8 (RFC 1122 §3.2.1.3), ::1
 * (RFC 4291 §2.5.3), or an IPv4 loopback address mapped into IPv6 (`::ffff:127.0.0.1`, which
 * getpeername reports on a dual-stack socket and our decoder writes as `::ffff:7f00:1`).
 * Anything unparsable (`-` when getpeername failed) is not.
 */
export function isLoopbackAddress(address: string): boolean {
  const parsed = parseHost(address);
  if (!parsed) return false;
  const b = parsed.bytes;
  if (b.length === 4) return b[0] === 127;
  const zeroUpTo = (end: number) => b.subarray(0, end).every((x) => x === 0);
  if (zeroUpTo(15) && b[15] === 1) return true; // ::1
  return zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff && b[12] === 127; // ::ffff:127.x.y.z
}

/**
 * Whether a request's Host (or absolute-form authority, `uri-host [":" port]`, RFC 9110 §7.2)
 * names this machine's loopback: `localhost` or a name beneath it (RFC 6761 §6.3), an address
 * in 127.0.0.0/8, or `[::1]` (and its IPv4-mapped forms). A page that DNS rebinding lets read a
 * loopback server is loaded from the attacker's own name, and its requests carry that name: a
 * loopback peer is not enough to tell the operator's browser from such a page. An empty Host
 * (HTTP/1.0 may omit it) names nothing, so it is not loopback either.
 */
export function isLoopbackHost(host: string): boolean {
  let name = host;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return false;
    name = name.slice(1, close);
  } else {
    const colon = name.indexOf(":");
    if (colon >= 0) name = name.slice(0, colon);
  }
  name = name.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1); // "localhost." is the same name, fully qualified
  return name === "localhost" || name.endsWith(".localhost") || isLoopbackAddress(name);
}

const NO_STORE = ["Cache-Control", "no-store"];
const ALLOW = ["Allow", "GET, HEAD"];
/** The page is self-contained: nothing may load from elsewhere, scripts only inline and fetch() only here. */
const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'";
const TEXT = "text/plain; charset=utf-8";

type Route = "status" | "metrics" | "health";

/** Whether `path` (a request's path and query) is `prefix`, with or without a query string. */
function matchesPath(path: string, prefix: string): boolean {
  // "/status" and "/status?x" match; "/statusx" and "/status/x" are the site's.
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 63);
}

/**
 * Whether `path` (a request's path and query) is one of the configured paths, matched as
 * withIntrospection matches them (e.g. to leave them out of an access log).
 */
export function isIntrospectionPath(path: string, options: IntrospectionOptions): boolean {
  const { statusPath, metricsPath, healthPath } = options;
  return (!!statusPath && matchesPath(path, statusPath)) ||
    (!!metricsPath && matchesPath(path, metricsPath)) ||
    (!!healthPath && matchesPath(path, healthPath));
}

/**
 * Wraps the site's handler so the configured paths are answered first. A path matches with or
 * without a query string (`/status?x` is the status page); only GET and HEAD are answered
 * (405 otherwise).
 * @param site the handler for everything else
 * @param options the paths
 * @param source the server whose state the paths report
 * @returns the combined handler
 */
export function withIntrospection(
  site: Handler,
  options: IntrospectionOptions,
  source: StatusSource,
): Handler {
  // Parallel arrays and an indexed loop: ~6 ns a request with three paths, against ~11 for a
  // for-of destructuring [path, route] pairs (measured, Deno 2.9.6).
  const prefixes: string[] = [];
  const routes: Route[] = [];
  for (
    const [path, route] of [[options.healthPath, "health"], [options.metricsPath, "metrics"], [
      options.statusPath,
      "status",
    ]] as const
  ) {
    if (path) {
      prefixes.push(path);
      routes.push(route);
    }
  }
  if (prefixes.length === 0) return site;
  return (request) => {
    const path = request.head.path;
    for (let i = 0; i < prefixes.length; i++) {
      if (matchesPath(path, prefixes[i]!)) return answerRoute(routes[i]!, request, options, source);
    }
    return site(request);
  };
}

function answerRoute(
  route: Route,
  request: HttpRequest,
  options: IntrospectionOptions,
  source: StatusSource,
): HttpResponse {
  const method = request.head.method;
  if (method !== "GET" && method !== "HEAD") {
    return statusResponse(STATUS.METHOD_NOT_ALLOWED, { headers: ALLOW });
  }
  switch (route) {
    case "health":
      // A load balancer's check: 503 takes this server out of rotation while it drains; the
      // draining server closes the connection after it by itself (every response then does).
      return source.draining
        ? {
          status: STATUS.SERVICE_UNAVAILABLE,
          headers: ["Content-Type", TEXT, ...NO_STORE],
          body: "draining\n",
        }
        : { status: STATUS.OK, headers: ["Content-Type", TEXT, ...NO_STORE], body: "ok\n" };
    case "metrics":
      return {
        status: STATUS.OK,
        headers: ["Content-Type", METRICS_CONTENT_TYPE, ...NO_STORE],
        body: metricsText(options, source),
      };
    case "status":
      return statusPage(request, options, source);
  }
}

function metricsText(options: IntrospectionOptions, source: StatusSource): string {
  const own = collectStatus(source, { rows: false, worker: options.worker ?? null });
  return options.group ? renderGroupMetrics(options.group.members(own)) : renderMetrics(own);
}

function statusPage(request: HttpRequest, options: IntrospectionOptions, source: StatusSource): HttpResponse {
  // It lists every client's address: private unless the operator opens it. Private means a
  // loopback peer asking for a loopback name (isLoopbackHost says why the name counts too).
  if (!options.statusPublic) {
    if (!isLoopbackAddress(request.peer.remoteAddress())) {
      return statusResponse(STATUS.FORBIDDEN, {
        text: "The status page answers loopback clients only; start rawserve with --status-public to open it",
      });
    }
    if (!isLoopbackHost(request.head.host)) {
      return statusResponse(STATUS.FORBIDDEN, {
        text: "The status page answers only requests for localhost or a loopback address (Host); " +
          "start rawserve with --status-public to open it",
      });
    }
  }
  const snapshot = collectStatus(source, { rows: true, worker: options.worker ?? null });
  if (options.group) {
    // Siblings read the published copy: the totals, not this page's rows.
    const bare = { ...snapshot, system: null, connections: { ...snapshot.connections, rows: [] } };
    snapshot.group = summarizeGroup(options.group.members(bare));
  }
  if (prefersJson(request.head.get("accept"))) {
    return {
      status: STATUS.OK,
      headers: ["Content-Type", "application/json", "Vary", "Accept", ...NO_STORE],
      body: JSON.stringify(snapshot, null, 2) + "\n",
    };
  }
  return {
    status: STATUS.OK,
    headers: [
      "Content-Type",
      "text/html; charset=utf-8",
      "Vary",
      "Accept",
      "Content-Security-Policy",
      PAGE_CSP,
      ...NO_STORE,
    ],
    body: renderStatusPage(snapshot),
  };
}
