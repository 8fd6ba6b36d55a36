// What the benchmark compares: the servers and the load scenarios they serve, plus the timings that
// several parts share. Data only; running the scenarios is load.ts, startup.ts and idle.ts.

/** The servers --servers chooses from, in the order of the report's rows. */
export const SERVER_KINDS = [
  "rawserve",
  "quiet",
  "baseline",
  "baseline-quiet",
  "deno",
  "deno-routing",
  "nginx",
  "floor",
  "deno-floor",
] as const;
/** One of SERVER_KINDS. */
export type ServerKind = typeof SERVER_KINDS[number];
/** Each server's name in the report. */
export const SERVER_LABELS = {
  rawserve: "rawserve (defaults)",
  quiet: "rawserve --quiet",
  baseline: "baseline (defaults)",
  "baseline-quiet": "baseline --quiet",
  deno: "Deno.serve",
  "deno-routing": "Deno.serve, routing",
  nginx: "nginx",
  floor: "C floor",
  "deno-floor": "Deno floor (FFI)",
} as const;
/** rawserve processes (ours or a baseline checkout), with the access log on or not. */
export const RAWSERVE_KINDS: readonly ServerKind[] = ["rawserve", "quiet", "baseline", "baseline-quiet"];
/** Kinds that take part in the start-up and idle-connection scenarios. */
export const PROCESS_KINDS: readonly ServerKind[] = ["rawserve", "baseline", "deno", "nginx"];

/**
 * How an h2load scenario loads the server: the protocol h2load must report having negotiated,
 * streams in flight per connection (-m), and the paths asked for in turn (h2load -i) when more than one.
 */
export interface H2loadLoad {
  protocol: "h2" | "http/1.1";
  streams: number;
  uris?: readonly string[];
}

/** A WebSocket echo scenario: the message each client sends and receives back, and whether it offers deflate. */
export interface WsLoad {
  bytes: number;
  deflate: boolean;
}

/** A scenario measured with wrk: what is asked for, over how many connections, and who answers it. */
export interface LoadScenario {
  name: string;
  path: string;
  root: boolean; // needs a server started with --root (static files) rather than the embedded page
  connections: number;
  pipeline: boolean; // wrk -s pipeline16.lua
  headers: string[];
  /** The fixture file whose bytes every peer answers (beneath site/). */
  file: string;
  type: string;
  /** How nginx serves it fastest here (see NGINX_SETTINGS). */
  nginx: "memory" | "small-file" | "large-file" | "gzip-static" | "h2";
  /**
   * The answer is `file`, a precompressed sidecar sent in this content coding: only rawserve and
   * nginx (gzip_static) take part, and the check compares the raw bytes on the wire.
   */
  coded?: string;
  /**
   * An application module (beneath the repository) that rawserve (--app) and Deno.serve both
   * run instead of serving the file: nginx sits these scenarios out, the floors answer the
   * application's answer to the load generator's request as fixed bytes.
   */
  app?: string;
  /** HTTPS with the bench's certificate (rawserve --cert/--key, nginx ssl); only they take part. */
  tls?: boolean;
  /** Session tickets off on both servers: wrk resumes sessions when it can, this makes it not. */
  noTickets?: boolean;
  /** Loaded by h2load (h2load.ts) instead of wrk; always over TLS with the bench's certificate. */
  h2load?: H2loadLoad;
  /** A WebSocket echo loaded by ws_load.ts (ws.ts) instead of wrk: serve() against Deno.serve. */
  ws?: WsLoad;
}

export const PAGE_TYPE = "text/html; charset=utf-8";
/** The embedded page over 50 keep-alive connections: the base most scenarios vary. */
const EMBEDDED: LoadScenario = {
  name: "embedded",
  path: "/",
  root: false,
  connections: 50,
  pipeline: false,
  headers: [],
  file: "index.html",
  type: PAGE_TYPE,
  nginx: "memory",
};
/** The 13-byte file from the site over 50 keep-alive connections: the base of the HTTPS ones. */
const STATIC13: LoadScenario = {
  name: "static13",
  path: "/small.txt",
  root: true,
  connections: 50,
  pipeline: false,
  headers: [],
  file: "small.txt",
  type: "text/plain; charset=utf-8",
  nginx: "small-file",
};
/** The 13-byte file over HTTPS on keep-alive connections: TLS records, no handshakes. */
const HTTPS13: LoadScenario = { ...STATIC13, name: "https13", tls: true };
/** The page of thirty assets (fixtures.ts writes them beneath site/page/): index.html first. */
export const PAGE_ASSETS: readonly { name: string; kib: number }[] = [
  { name: "index.html", kib: 8 },
  { name: "css/main.css", kib: 48 },
  { name: "css/theme.css", kib: 12 },
  { name: "css/print.css", kib: 2 },
  { name: "js/vendor.js", kib: 96 },
  { name: "js/app.js", kib: 60 },
  { name: "js/analytics.js", kib: 20 },
  { name: "js/menu.js", kib: 4 },
  { name: "js/search.js", kib: 16 },
  { name: "js/carousel.js", kib: 8 },
  { name: "js/forms.js", kib: 12 },
  { name: "img/logo.svg", kib: 3 },
  { name: "img/hero.jpg", kib: 90 },
  { name: "img/banner.jpg", kib: 40 },
  ...Array.from({ length: 10 }, (_, i) => ({ name: `img/thumb${i + 1}.webp`, kib: 8 + i * 2 })),
  { name: "img/icon-cart.svg", kib: 1 },
  { name: "img/icon-user.svg", kib: 1 },
  { name: "img/icon-search.svg", kib: 1 },
  { name: "fonts/text.woff2", kib: 24 },
  { name: "fonts/bold.woff2", kib: 30 },
  { name: "favicon.ico", kib: 4 },
  { name: "manifest.json", kib: 1 },
];
/** The page's paths, as h2load -i asks for them in turn. */
const PAGE_URIS = PAGE_ASSETS.map((a) => `/page/${a.name}`);
/** The 13-byte file over HTTP/2 (TLS, ALPN h2), h2load -c 10 -m 10: the base of the h2 rows. */
const H2_13: LoadScenario = {
  ...STATIC13,
  name: "h2-13",
  connections: 10,
  tls: true,
  nginx: "h2",
  h2load: { protocol: "h2", streams: 10 },
};
/** The WebSocket echo of 64 bytes on 50 connections, 10 messages in flight on each. */
const WS_ECHO: LoadScenario = {
  ...EMBEDDED,
  name: "ws-echo64",
  file: "",
  type: "",
  ws: { bytes: 64, deflate: false },
};
/** The wrk scenarios, in the order they run and are reported. */
export const LOAD_SCENARIOS: readonly LoadScenario[] = [
  EMBEDDED,
  { ...EMBEDDED, name: "pipelined16", pipeline: true },
  STATIC13,
  {
    name: "static1m",
    path: "/big.bin",
    root: true,
    connections: 10,
    pipeline: false,
    headers: [],
    file: "big.bin",
    type: "application/octet-stream",
    nginx: "large-file",
  },
  { ...EMBEDDED, name: "app-hello", app: "scripts/apps/hello.ts" },
  {
    ...EMBEDDED,
    name: "app-json",
    path: "/items?q=1",
    headers: ["Accept: application/json"],
    app: "scripts/apps/json.ts",
  },
  { ...EMBEDDED, name: "close", headers: ["Connection: close"] },
  // A compressed answer: a 200 KiB script (the repository's own sources) and its `gzip -9`
  // sidecar, asked for with Accept-Encoding: gzip. rawserve and nginx (gzip_static) both send the
  // sidecar's bytes as they are.
  {
    name: "gzip",
    path: "/app.js",
    root: true,
    connections: 50,
    pipeline: false,
    headers: ["Accept-Encoding: gzip"],
    file: "app.js.gz",
    type: "text/javascript; charset=utf-8",
    nginx: "gzip-static",
    coded: "gzip",
  },
  // The control for gzip: the same 62 KB asked for by the sidecar's own name, a plain file
  // (application/gzip, no coding, no Vary) that any rawserve and every peer serve.
  {
    name: "gzipfile",
    path: "/app.js.gz",
    root: true,
    connections: 50,
    pipeline: false,
    headers: [],
    file: "app.js.gz",
    type: "application/gzip",
    nginx: "gzip-static",
  },
  // HTTPS: the 13-byte file on keep-alive connections (TLS records, no handshakes), and a new
  // connection per request: wrk resumes its session from a ticket when offered one (httpsclose,
  // a TLS 1.3 PSK handshake with ECDHE), and does a full handshake without tickets (httpsfull).
  HTTPS13,
  { ...HTTPS13, name: "httpsclose", headers: ["Connection: close"] },
  { ...HTTPS13, name: "httpsfull", headers: ["Connection: close"], noTickets: true },
  // HTTP/2 over TLS (h2load, ALPN h2): the 13-byte file, a 64 KiB file and the page of thirty
  // assets; then the same page over HTTP/1.1 on six keep-alive connections, as a browser opens.
  H2_13,
  { ...H2_13, name: "h2-64k", path: "/mid64k.bin", file: "mid64k.bin", type: "application/octet-stream" },
  {
    ...H2_13,
    name: "h2-page",
    path: PAGE_URIS[0]!,
    h2load: { protocol: "h2", streams: 10, uris: PAGE_URIS },
  },
  {
    ...H2_13,
    name: "https-page",
    connections: 6,
    nginx: "small-file",
    path: PAGE_URIS[0]!,
    h2load: { protocol: "http/1.1", streams: 1, uris: PAGE_URIS },
  },
  // WebSocket echo: rawserve's serve() + upgradeWebSocket() against Deno.serve +
  // Deno.upgradeWebSocket() running the same module (scripts/apps/ws_echo.ts).
  WS_ECHO,
  // The 4 KiB message without deflate, then with it offered: Deno.serve never compresses, so the
  // first is the like-for-like row and the second what compression costs rawserve.
  { ...WS_ECHO, name: "ws-echo4k", ws: { bytes: 4096, deflate: false } },
  { ...WS_ECHO, name: "ws-deflate4k", ws: { bytes: 4096, deflate: true } },
];

/** Every name --only accepts: the load scenarios, then startup, idle10k and ws-idle1k. */
export const SCENARIO_NAMES = [...LOAD_SCENARIOS.map((s) => s.name), "startup", "idle10k", "ws-idle1k"];
/** ws-idle1k's server: the echo of ws-echo64. */
export const WS_IDLE_SCENARIO: LoadScenario = WS_ECHO;

export const WARMUP_SECONDS = 1; // of wrk per server before the measured runs: JIT and caches warm
/**
 * Requests a warm-up lasts at least (continued for as long as its first second's rate needs, up to
 * WARMUP_MAX_SECONDS): V8 moves a request path to its optimising tier only after ~15-25k requests
 * (--trace-opt, 2026-12-06), which a 1 MiB file at ~2k requests a second takes 10 s to reach;
 * before it, rawserve's user time per request is ~1.5× its steady state (docs/architecture.md).
 */
export const WARMUP_REQUESTS = 40_000;
export const WARMUP_MAX_SECONDS = 25;

export const IDLE_FD_MARGIN = 1024; // descriptors beyond the idle connections (Deno, fetch, pipes)
export const IDLE_KEEPALIVE_S = 300; // server keep-alive timeouts raised past the scenario's length
