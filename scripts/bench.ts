// `deno task bench`: rawserve against its peers, each in its fastest form serving identical bytes,
// loopback only. Servers on CPU 0 and wrk on CPU 1 (taskset), a 1 s warm-up, then servers in
// rotation for --rounds runs; medians of req/s, latency and server CPU µs per request (user and
// system apart). The peers, per scenario (NGINX_SETTINGS says why each form is its fastest here):
//   rawserve           the defaults a user gets: access log on, written to a file
//   rawserve --quiet   no access log
//   Deno.serve         scripts/deno_serve_ref.ts: one body for every request, handler never reads it
//   Deno.serve routing the same, reading the URL as an app would (labelled; the embedded page only)
//   nginx              one worker, the settings measured fastest on this machine for the scenario
//   C floor            scripts/ref/floor.c: one read and one write per request (built with cc)
//
// Usage: deno run -A scripts/bench.ts [--only embedded,static13] [--duration 5] [--rounds 3]
//          [--connections N] [--strace] [--json] [--workers N] [--no-pin] [--idle-connections N]
//          [--servers LIST] [--baseline DIR]
// --baseline DIR adds rawserve from another checkout (e.g. a git worktree of the commit before
// a change), with and without --quiet, in the same rotation: before/after in one run.
// Every wrk run, server start and idle-connection phase is bounded in time; all servers are stopped
// and the temporary directory removed at the end and on SIGINT/SIGTERM.

import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { EMBEDDED_PAGE } from "../app/site/embedded_page.ts";

// ---- configuration ----------------------------------------------------------------------------

const SERVER_KINDS = [
  "rawserve",
  "quiet",
  "baseline",
  "baseline-quiet",
  "deno",
  "deno-routing",
  "nginx",
  "floor",
] as const;
type ServerKind = typeof SERVER_KINDS[number];
const SERVER_LABELS = {
  rawserve: "rawserve (defaults)",
  quiet: "rawserve --quiet",
  baseline: "baseline (defaults)",
  "baseline-quiet": "baseline --quiet",
  deno: "Deno.serve",
  "deno-routing": "Deno.serve, routing",
  nginx: "nginx",
  floor: "C floor",
} as const;
/** rawserve processes (ours or a baseline checkout), with the access log on or not. */
const RAWSERVE_KINDS: readonly ServerKind[] = ["rawserve", "quiet", "baseline", "baseline-quiet"];
/** Kinds that take part in the start-up and idle-connection scenarios. */
const PROCESS_KINDS: readonly ServerKind[] = ["rawserve", "baseline", "deno", "nginx"];

interface LoadScenario {
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
  nginx: "memory" | "small-file" | "large-file" | "gzip-static";
  /**
   * The answer is `file`, a precompressed sidecar sent in this content coding: only rawserve and
   * nginx (gzip_static) take part, and the check compares the raw bytes on the wire.
   */
  coded?: string;
  /**
   * An application module (beneath the repository) that rawserve (--app) and Deno.serve both
   * run instead of serving the file: nginx and the floor sit these scenarios out.
   */
  app?: string;
  /** HTTPS with the bench's certificate (rawserve --cert/--key, nginx ssl); only they take part. */
  tls?: boolean;
  /** Session tickets off on both servers: wrk resumes sessions when it can, this makes it not. */
  noTickets?: boolean;
}

const PAGE_TYPE = "text/html; charset=utf-8";
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
/** The 13-byte file over HTTPS on keep-alive connections: TLS records, no handshakes. */
const HTTPS13: LoadScenario = {
  name: "https13",
  path: "/small.txt",
  root: true,
  connections: 50,
  pipeline: false,
  headers: [],
  file: "small.txt",
  type: "text/plain; charset=utf-8",
  nginx: "small-file",
  tls: true,
};
const LOAD_SCENARIOS: readonly LoadScenario[] = [
  EMBEDDED,
  {
    name: "pipelined16",
    path: "/",
    root: false,
    connections: 50,
    pipeline: true,
    headers: [],
    file: "index.html",
    type: PAGE_TYPE,
    nginx: "memory",
  },
  {
    name: "static13",
    path: "/small.txt",
    root: true,
    connections: 50,
    pipeline: false,
    headers: [],
    file: "small.txt",
    type: "text/plain; charset=utf-8",
    nginx: "small-file",
  },
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
  {
    name: "close",
    path: "/",
    root: false,
    connections: 50,
    pipeline: false,
    headers: ["Connection: close"],
    file: "index.html",
    type: PAGE_TYPE,
    nginx: "memory",
  },
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
];

/**
 * nginx's settings per scenario, and why each is its fastest form here. Measured 2026-11-25 on this machine (servers on CPU 0,
 * wrk -t1 on CPU 1, three alternating 3-4 s runs, server CPU µs per request):
 * - nginx, the 688-byte page: as a file 15.0 (sendfile on), 10.6 with open_file_cache, 5.6 with
 *   `return 200 "..."` from memory. rawserve answers it from memory too: `return` it is.
 * - nginx, the 13-byte file: sendfile on 14.7, off 10.4-11.7, on + open_file_cache 9.5-10.9,
 *   off + open_file_cache 6.2-7.5: `sendfile off; open_file_cache`.
 * - nginx, the 1 MiB file (10 connections): sendfile on + tcp_nopush off 69-96, the same with
 *   open_file_cache 66-92, tcp_nopush on 276-323 (TCP_CORK), sendfile off 196-200:
 *   `sendfile on; tcp_nopush off; open_file_cache`.
 * - nginx, the 62 KB gzip sidecar (gzip_static on, 2026-11-25, two alternating pairs of 3 s runs):
 *   sendfile on + tcp_nopush off 12.3 and 14.5, sendfile off 16.4 and 17.1: sendfile on.
 * - Deno.serve: a string body for text, built once; a fresh or shared init object and no
 *   Content-Type at all were within noise of each other (9.4-11.0 µs), so the page keeps its type.
 */
const NGINX_SETTINGS: Record<LoadScenario["nginx"], string> = {
  memory: "sendfile off;",
  "small-file": "sendfile off; open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
  "gzip-static": "gzip_static on; gzip_vary on; sendfile on; tcp_nopush off; " +
    "open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
  "large-file":
    "sendfile on; tcp_nopush off; open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
};
const SCENARIO_NAMES = [...LOAD_SCENARIOS.map((s) => s.name), "startup", "idle10k"];

const PIPELINE_DEPTH = 16;
const READY_TIMEOUT_MS = 10_000; // a server that has not printed its URL by then is reported as failed
const WARMUP_SECONDS = 1;
const STRACE_MIN_SECONDS = 3; // 100 Hz accounting and strace start-up want a few seconds
const STARTUP_SAMPLES = 5;
const STARTUP_POLL_MS = 5;
const NOISY_PERCENT = 10; // a noise gauge above this in any run: the machine was not quiet
const IDLE_BUDGET_MS = 60_000; // the whole idle10k scenario, all servers together
const IDLE_BATCH = 250; // connections opened concurrently; well under every server's listen backlog
const IDLE_FD_MARGIN = 1024; // descriptors beyond the idle connections (Deno, fetch, pipes)
const IDLE_KEEPALIVE_S = 300; // server keep-alive timeouts raised past the scenario's length
const STDERR_KEEP = 16_384; // bytes of a server's stderr kept for error messages
const URL_PATTERN = /https?:\/\/[^\s]+/; // servers get NO_COLOR=1, so no escape codes follow the URL
const BIG_FILE_BYTES = 1024 * 1024;
const SCRIPT_BYTES = 200 * 1024; // the gzip scenario's script: about a front-end bundle's size
const SMALL_FILE = "Hello, world\n"; // 13 bytes

const USAGE = `Usage: deno run -A scripts/bench.ts [options]

  --only LIST            scenarios, comma-separated (default: all):
                         ${SCENARIO_NAMES.join(", ")}
  --duration S           seconds per measured wrk run (default 5; >= 3 keeps CPU/req accurate)
  --rounds N             runs per server, servers in rotation; medians reported (default 3)
  --connections N        wrk connections for every load scenario (default 50, static1m 10)
  --strace               one extra run per server under strace -c -f: syscalls per request
  --json                 JSON on stdout instead of markdown
  --workers N            rawserve --workers N (pinned to CPUs 0-1 when N > 1)
  --no-pin               do not pin servers and wrk with taskset
  --idle-connections N   connections held open by idle10k (default 10000)
  --servers LIST         a subset of ${SERVER_KINDS.join(", ")}
  --baseline DIR         also run rawserve from the checkout in DIR (defaults and --quiet),
                         in the same rotation: before/after in one run
  --rawserve-flags="F"   extra flags for this checkout's rawserve only (not the baseline's),
                         e.g. --rawserve-flags="--metrics /metrics": a feature's cost against
                         DIR (the = is needed: the value begins with a dash)`;

interface Options {
  only: string[];
  duration: number;
  rounds: number;
  connections: number | null;
  strace: boolean;
  json: boolean;
  workers: number;
  pin: boolean;
  idleConnections: number;
  servers: ServerKind[];
  /** A checkout of rawserve to compare with (its main.ts), or null. */
  baseline: string | null;
  /** Extra flags for this checkout's rawserve (not the baseline's). */
  rawserveFlags: string[];
  child: boolean; // hidden: this process is the idle10k re-run under a raised open-file limit
}

/** Everything the scenarios share: options, fixtures and the processes to stop on exit. */
interface Bench {
  opts: Options;
  repo: string;
  dir: string;
  site: string;
  lua: string;
  page: Uint8Array;
  pin: boolean;
  clkTck: number;
  nginx: boolean;
  /** The floor server's binary, or null when it could not be built (no cc). */
  floor: string | null;
  /** The HTTPS scenarios' certificate (ECDSA P-256, CN and SAN localhost), or null without openssl. */
  tls: { cert: string; key: string; pem: string; client: Deno.HttpClient } | null;
  live: Set<Server>;
  tools: Set<Deno.ChildProcess>; // wrk, strace, the idle10k re-run: killed on SIGINT
  notes: string[];
  failures: number;
  interrupted: boolean; // set on SIGINT/SIGTERM: the failures that follow are ours, not the servers'
}

interface Server {
  kind: ServerKind;
  label: string;
  pid: number;
  port: number;
  exited: boolean;
  stderrText(): string;
  stop(): Promise<void>;
}

interface Sample {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  /** The user-space part of cpuUsPerRequest. */
  userUsPerRequest: number;
  errors: number;
  otherCpuPercent: number; // CPU 0 busy with anything but the server: a noise gauge
  wrkWaitPercent: number; // wrk's time runnable but not running (its CPU taken by others): the same
}

interface LoadRow {
  scenario: string;
  server: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  userUsPerRequest: number;
  vsDeno: number | null;
  vsNginx: number | null;
  vsFloor: number | null;
  errors: number;
  otherCpuPercent: number;
  wrkWaitPercent: number;
  runs: number;
  syscallsPerRequest: number | null;
  topSyscalls: string | null;
}

interface StartupRow {
  server: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  samples: number;
}

interface IdleRow {
  server: string;
  connections: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  kibPerConnection: number;
  newRequestP50Ms: number;
  newRequestMaxMs: number;
  note: string;
}

interface Report {
  load: LoadRow[];
  startup: StartupRow[];
  idle: IdleRow[];
}

// ---- small helpers ----------------------------------------------------------------------------

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or `fallback` once `ms` have passed (the timer is cleared either way). */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((r) => timer = setTimeout(() => r(fallback), ms))]);
  } finally {
    clearTimeout(timer);
  }
}

function median(xs: number[]): number {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function progress(line: string): void {
  console.error(`bench: ${line}`); // stderr, so that --json output stays clean
}

function onPath(program: string): boolean {
  const probe = new Deno.Command("sh", {
    args: ["-c", 'command -v "$1"', "sh", program],
    stdout: "null",
    stderr: "null",
  });
  return probe.outputSync().success;
}

function commandOutput(program: string, args: string[]): string {
  try {
    const out = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).outputSync();
    return (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim();
  } catch {
    return "";
  }
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** A port the OS considers free right now (bind to 0, read it back, close). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
}

// ---- options ----------------------------------------------------------------------------------

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      connections: { type: "string" },
      strace: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      workers: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      "idle-connections": { type: "string" },
      servers: { type: "string" },
      baseline: { type: "string" },
      "rawserve-flags": { type: "string" },
      child: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean) ?? SCENARIO_NAMES;
  const unknown = only.filter((s) => !SCENARIO_NAMES.includes(s));
  if (unknown.length) {
    throw new Error(`Unknown scenario ${unknown.join(", ")}; choose from ${SCENARIO_NAMES}`);
  }
  const servers = values.servers?.split(",").map((s) => s.trim()).filter(Boolean) ??
    SERVER_KINDS.filter((k) => k !== "baseline" && k !== "baseline-quiet");
  if (values.baseline !== undefined && values.servers === undefined) {
    servers.push("baseline", "baseline-quiet");
  }
  const badServers = servers.filter((s) => !(SERVER_KINDS as readonly string[]).includes(s));
  if (badServers.length || !servers.length) {
    throw new Error(`--servers takes a comma list of ${SERVER_KINDS.join(", ")}; got "${values.servers}"`);
  }
  return {
    only,
    duration: positiveInt("duration", values.duration, 5),
    rounds: positiveInt("rounds", values.rounds, 3),
    connections: values.connections === undefined ? null : positiveInt("connections", values.connections, 50),
    strace: values.strace,
    json: values.json,
    workers: positiveInt("workers", values.workers, 1),
    pin: !values["no-pin"],
    idleConnections: positiveInt("idle-connections", values["idle-connections"], 10_000),
    servers: SERVER_KINDS.filter((k) => servers.includes(k)),
    baseline: values.baseline ?? null,
    rawserveFlags: values["rawserve-flags"]?.split(/\s+/).filter(Boolean) ?? [],
    child: values.child,
  };
}

// ---- fixtures ---------------------------------------------------------------------------------

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let off = 0; off < length; off += 65_536) {
    crypto.getRandomValues(bytes.subarray(off, Math.min(length, off + 65_536))); // 64 KiB per call max
  }
  return bytes;
}

/**
 * The floor's answer for a fixture: a head as long as rawserve's (status, Date, Server, type,
 * length) and the fixture's bytes. `close` adds `Connection: close` (the close scenario).
 */
function floorResponse(body: Uint8Array, type: string, close: boolean): Uint8Array {
  const head = `HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\nServer: floor\r\n` +
    `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
  const out = new Uint8Array(head.length + body.length);
  out.set(encoder.encode(head));
  out.set(body, head.length);
  return out;
}

/** Real code for the gzip scenario: this repository's sources, concatenated to SCRIPT_BYTES. */
function scriptText(repo: string): Uint8Array {
  let text = "";
  for (const dir of ["http", "app", "loop", "ffi"]) {
    const names = [...Deno.readDirSync(`${repo}/${dir}`)].filter((e) => e.isFile && e.name.endsWith(".ts"))
      .map((e) => e.name).sort();
    for (const name of names) text += Deno.readTextFileSync(`${repo}/${dir}/${name}`);
  }
  return encoder.encode(text).slice(0, SCRIPT_BYTES);
}

/**
 * The temporary directory: site/ (index.html, small.txt, big.bin, app.js and app.js.gz) and the
 * pipelining script.
 */
function writeFixtures(dir: string, page: Uint8Array, repo: string): { site: string; lua: string } {
  const site = `${dir}/site`;
  Deno.mkdirSync(site);
  Deno.writeFileSync(`${site}/index.html`, page);
  Deno.writeTextFileSync(`${site}/small.txt`, SMALL_FILE);
  Deno.writeFileSync(`${site}/big.bin`, randomBytes(BIG_FILE_BYTES));
  const script = scriptText(repo);
  Deno.writeFileSync(`${site}/app.js`, script);
  Deno.writeFileSync(`${site}/app.js.gz`, gzipSync(script, { level: 9 })); // written after: not stale
  for (const scenario of LOAD_SCENARIOS) {
    // The floor answers small fixed responses without content codings.
    if (scenario.name === "static1m" || scenario.app || scenario.coded) continue;
    const body = Deno.readFileSync(`${site}/${scenario.file}`);
    const close = scenario.headers.includes("Connection: close");
    Deno.writeFileSync(`${dir}/floor-${scenario.name}.bin`, floorResponse(body, scenario.type, close));
  }
  const lua = `${dir}/pipeline${PIPELINE_DEPTH}.lua`;
  // wrk counts the requests in the string request() returns and expects that many responses.
  Deno.writeTextFileSync(
    lua,
    `init = function(args)
  local r = {}
  for i = 1, ${PIPELINE_DEPTH} do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
`,
  );
  return { site, lua };
}

/** nginx.conf for one scenario, in its fastest form there (NGINX_SETTINGS). */
function nginxConfig(bench: Bench, port: number, scenario: LoadScenario): string {
  const dir = bench.dir;
  const connections = Math.max(20_000, bench.opts.idleConnections + IDLE_FD_MARGIN);
  // One process, no master: the PID we spawn is the one that serves, as for the Deno servers.
  return `worker_processes 1;
daemon off;
master_process off;
worker_rlimit_nofile ${connections + 64};
error_log ${dir}/nginx-error.log warn;
pid ${dir}/nginx-${port}.pid;
events { worker_connections ${connections}; }
http {
  access_log off;
  ${NGINX_SETTINGS[scenario.nginx]}
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout ${IDLE_KEEPALIVE_S}s;
  charset utf-8;
  client_body_temp_path ${dir}/nginx-tmp/body;
  proxy_temp_path ${dir}/nginx-tmp/proxy;
  fastcgi_temp_path ${dir}/nginx-tmp/fastcgi;
  uwsgi_temp_path ${dir}/nginx-tmp/uwsgi;
  scgi_temp_path ${dir}/nginx-tmp/scgi;
  types { text/html html; text/plain txt; text/javascript js; application/gzip gz; application/octet-stream bin; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${scenario.tls ? " ssl" : ""} backlog=4096;
    ${scenario.tls ? nginxTls(bench) : ""}
    ${scenario.noTickets ? "ssl_session_tickets off;" : ""}
    root ${bench.site};
    ${nginxRoot(bench, scenario)}
  }
}
`;
}

/**
 * nginx's TLS with the same certificate and rawserve's choices: TLS 1.2 and 1.3, OpenSSL's default
 * ciphers, session tickets (nginx's default) and no session cache (nginx's default "none").
 */
function nginxTls(bench: Bench): string {
  return `ssl_certificate ${bench.tls!.cert}; ssl_certificate_key ${bench.tls!.key};
    ssl_protocols TLSv1.2 TLSv1.3;`;
}

/** The location for "/": the page returned from memory, or files from the site. */
function nginxRoot(bench: Bench, scenario: LoadScenario): string {
  if (scenario.nginx !== "memory") return "location = / { try_files /index.html =404; }";
  // An nginx string: backslashes and double quotes escaped; the page has no "$" (no variables).
  const text = decoder.decode(bench.page).replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return `location = / { default_type "${PAGE_TYPE}"; charset off; return 200 "${text}"; }`;
}

// ---- servers ----------------------------------------------------------------------------------

interface LaunchOptions {
  scenario: LoadScenario;
  port: number; // 0: ephemeral, read back from the server's URL line (nginx: picked here)
  extra: string[];
}

/** Whether `kind` takes part in `scenario` (the floor answers small fixed responses only). */
function takesPart(bench: Bench, kind: ServerKind, scenario: LoadScenario): boolean {
  if (scenario.app && (kind === "nginx" || kind === "floor" || kind === "deno-routing")) return false;
  // A baseline checkout may predate content codings: this checkout's rawserve and nginx only.
  if (scenario.coded) return kind === "nginx" ? bench.nginx : kind === "rawserve" || kind === "quiet";
  if (scenario.tls) {
    return bench.tls !== null && (kind === "nginx" ? bench.nginx : kind === "rawserve" || kind === "quiet");
  }
  if (kind === "nginx") return bench.nginx;
  if (kind === "floor") return bench.floor !== null && scenario.name !== "static1m";
  if (kind === "deno-routing") return scenario.name === "embedded";
  return true;
}

/** rawserve from this checkout or the baseline, with its defaults (access log to a file) or quiet. */
function rawserveCommand(bench: Bench, kind: ServerKind, launch: LaunchOptions): string[] {
  const perms = ["--allow-ffi", "--allow-read", "--allow-env", "--allow-write"];
  if (bench.opts.workers > 1) perms.push("--allow-run"); // the supervisor spawns its workers
  const checkout = kind.startsWith("baseline") ? bench.opts.baseline : bench.repo;
  const argv = [Deno.execPath(), "run", ...perms, `${checkout}/main.ts`, "--port", String(launch.port)];
  if (kind.endsWith("quiet")) argv.push("--quiet");
  else argv.push("--access-log", `${bench.dir}/access-${kind}.log`);
  if (bench.opts.workers > 1) argv.push("--workers", String(bench.opts.workers));
  if (launch.scenario.app) argv.push("--app", `${bench.repo}/${launch.scenario.app}`);
  else if (launch.scenario.root) argv.push("--root", bench.site);
  if (!kind.startsWith("baseline")) argv.push(...bench.opts.rawserveFlags);
  if (launch.scenario.tls) argv.push("--cert", bench.tls!.cert, "--key", bench.tls!.key);
  if (launch.scenario.noTickets) argv.push("--tls-tickets", "off");
  return argv;
}

/** The argv that starts one server, pinned to CPU 0 (CPUs 0-1 for rawserve --workers > 1). */
function serverCommand(bench: Bench, kind: ServerKind, launch: LaunchOptions): string[] {
  const { scenario, port } = launch;
  let argv: string[];
  if (RAWSERVE_KINDS.includes(kind)) {
    argv = rawserveCommand(bench, kind, launch);
  } else if (kind === "deno" || kind === "deno-routing") {
    const script = `${bench.repo}/scripts/deno_serve_ref.ts`;
    argv = [Deno.execPath(), "run", "--allow-net=127.0.0.1", "--allow-read", script, "--port", String(port)];
    argv.push("--host", "127.0.0.1");
    if (scenario.app) argv.push("--app", `${bench.repo}/${scenario.app}`);
    else argv.push("--body", `${bench.site}/${scenario.file}`, "--type", scenario.type);
    if (kind === "deno-routing") argv.push("--routing");
  } else if (kind === "floor") {
    argv = [bench.floor!, String(port), `${bench.dir}/floor-${scenario.name}.bin`];
  } else {
    const conf = `${bench.dir}/nginx-${port}.conf`;
    Deno.mkdirSync(`${bench.dir}/nginx-tmp`, { recursive: true });
    Deno.writeTextFileSync(conf, nginxConfig(bench, port, scenario));
    argv = ["nginx", "-c", conf, "-p", bench.dir, "-e", `${bench.dir}/nginx-error.log`];
  }
  argv.push(...launch.extra);
  if (!bench.pin) return argv;
  const cpus = RAWSERVE_KINDS.includes(kind) && bench.opts.workers > 1 ? "0-1" : "0";
  return ["taskset", "-c", cpus, ...argv]; // taskset execs: the PID is the server's
}

function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }): void {
  (async () => {
    for await (const chunk of stream) {
      if (sink.text.length < STDERR_KEEP) sink.text += decoder.decode(chunk, { stream: true });
    }
  })().catch(() => {});
}

/** Resolves with the first URL the server prints; keeps draining stdout afterwards. */
async function readUrl(stream: ReadableStream<Uint8Array>): Promise<string | null> {
  let text = "";
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    text += decoder.decode(value, { stream: true });
    const match = URL_PATTERN.exec(text);
    if (match) {
      reader.releaseLock();
      collect(stream, { text: "" }); // rawserve's stats or a worker's lines must not fill the pipe
      return match[0];
    }
  }
}

/** The port of a printed URL such as http://127.0.0.1:41234/ (-2 when it has none). */
function portOf(url: string): number {
  const port = /^https?:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/.exec(url)?.[1];
  return port === undefined ? -2 : Number(port);
}

/** Starts a server process; `ready` resolves with its port once it prints its URL. */
function launch(bench: Bench, kind: ServerKind, options: LaunchOptions): Server & { ready: Promise<number> } {
  const port = kind === "nginx" && options.port === 0 ? freePort() : options.port;
  const argv = serverCommand(bench, kind, { ...options, port });
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: bench.repo,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const err = { text: "" };
  collect(child.stderr, err);
  const exited = child.status.then((status) => {
    server.exited = true;
    return status;
  });
  const server: Server & { ready: Promise<number> } = {
    kind,
    label: SERVER_LABELS[kind],
    pid: child.pid,
    port,
    exited: false,
    stderrText: () => kind === "nginx" ? err.text + readOr(`${bench.dir}/nginx-error.log`) : err.text,
    stop: () => stopChild(bench, server, child, exited),
    ready: Promise.resolve(port),
  };
  if (kind === "nginx") collect(child.stdout, { text: "" });
  else server.ready = readUrl(child.stdout).then((url) => url === null ? 0 : portOf(url));
  bench.live.add(server);
  return server;
}

/** SIGTERM, then SIGKILL if the server is still there after 5 s. */
async function stopChild(
  bench: Bench,
  server: Server,
  child: Deno.ChildProcess,
  exited: Promise<Deno.CommandStatus>,
): Promise<void> {
  bench.live.delete(server);
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      child.kill(signal);
    } catch {
      return; // already exited and reaped
    }
    if (await within(exited.then(() => true), 5_000, false)) return;
  }
}

/** Waits until a launched server accepts connections; throws with its stderr if it does not. */
async function waitReady(server: Server & { ready: Promise<number> }): Promise<Server> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const port = await within(server.ready, READY_TIMEOUT_MS, -1);
  const fail = async (why: string) => {
    await server.stop();
    const stderr = server.stderrText().trim();
    return new Error(`${server.label} ${why}; its stderr:\n${stderr || "(empty)"}`);
  };
  if (port === -1) throw await fail(`did not print a URL (http://...) within ${READY_TIMEOUT_MS / 1000} s`);
  if (port === 0) throw await fail("exited before printing its URL");
  if (port === -2) throw await fail("printed a URL without a port");
  server.port = port;
  while (Date.now() < deadline && !server.exited) { // nginx prints nothing: wait for the port
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return server;
    } catch {
      await sleep(20);
    }
  }
  throw await fail(`did not accept connections on port ${port} within ${READY_TIMEOUT_MS / 1000} s`);
}

async function startServer(
  bench: Bench,
  kind: ServerKind,
  scenario: LoadScenario,
  extra: string[] = [],
): Promise<Server> {
  return await waitReady(launch(bench, kind, { scenario, port: 0, extra }));
}

/**
 * The bytes every peer must answer for a scenario: the fixture file, or what the scenario's
 * application answers to the request checkBody() sends (fetch's default Accept is any type).
 */
async function expectedBody(bench: Bench, scenario: LoadScenario): Promise<Uint8Array> {
  if (!scenario.app) return Deno.readFileSync(`${bench.site}/${scenario.file}`);
  const app = (await import(`${bench.repo}/${scenario.app}`)).default;
  const request = new Request(`http://127.0.0.1${scenario.path}`, { headers: { accept: "*/*" } });
  return new Uint8Array(await (await app.fetch(request)).arrayBuffer());
}

/** Fails loudly when a server does not answer 200 with the expected bytes. */
async function checkBody(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  expected: Uint8Array,
): Promise<void> {
  const path = scenario.path;
  let status: number, body: Uint8Array, coding: string | null = null;
  if (scenario.coded) {
    ({ status, body, coding } = await rawGet(server.port, path, scenario.headers));
  } else {
    const res = scenario.tls
      ? await fetch(`https://localhost:${server.port}${path}`, {
        client: bench.tls!.client,
        signal: AbortSignal.timeout(5_000),
      })
      : await fetch(`http://127.0.0.1:${server.port}${path}`, { signal: AbortSignal.timeout(5_000) });
    status = res.status;
    body = new Uint8Array(await res.arrayBuffer());
  }
  const same = body.length === expected.length && body.every((b, i) => b === expected[i]);
  if (status !== 200 || !same || coding !== (scenario.coded ?? null)) {
    throw new Error(
      `${server.label} GET ${path}: status ${status}, ${body.length} bytes, coding ${coding}; expected 200 ` +
        `and the ${expected.length} fixture bytes${scenario.coded ? ` in ${scenario.coded}` : ""}`,
    );
  }
}

/**
 * GET over a plain socket, for answers fetch() would decode: the body as sent, and its coding.
 * @throws {Error} after 5 s without the whole answer
 */
async function rawGet(
  port: number,
  path: string,
  headers: string[],
): Promise<{ status: number; body: Uint8Array; coding: string | null }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join("")}` +
      "Connection: close\r\n\r\n";
    await conn.write(encoder.encode(request));
    const chunks: Uint8Array[] = [];
    for await (const chunk of conn.readable) chunks.push(chunk);
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
    const text = decoder.decode(all.subarray(0, Math.min(all.length, 16_384)));
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) throw new Error(`no complete answer to GET ${path}`);
    const head = text.slice(0, headEnd);
    const coding = /^content-encoding:\s*(\S+)/im.exec(head)?.[1] ?? null;
    return { status: Number(head.split(" ")[1]), body: all.subarray(headEnd + 4), coding };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or the peer
    }
  }
}

// ---- /proc measurements -----------------------------------------------------------------------

/** The PID and its descendants (rawserve --workers children), from /proc/PID/task/TID/children. */
function processTree(pid: number): number[] {
  const pids = [pid];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const children = readOr(`/proc/${pid}/task/${task.name}/children`).trim();
      for (const child of children ? children.split(/\s+/) : []) pids.push(...processTree(Number(child)));
    }
  } catch {
    // exited meanwhile
  }
  return pids;
}

/** utime and stime in clock ticks of the process (all its threads) and its live descendants. */
function cpuTicks(pid: number): { user: number; sys: number } {
  const ticks = { user: 0, sys: 0 };
  for (const p of processTree(pid)) {
    const stat = readOr(`/proc/${p}/stat`);
    // Fields after "(comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks.user += Number(fields[11] ?? 0);
    ticks.sys += Number(fields[12] ?? 0);
  }
  return ticks;
}

function rssKiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    kib += Number(/VmRSS:\s+(\d+)/.exec(readOr(`/proc/${p}/status`))?.[1] ?? 0);
  }
  return kib;
}

/** Busy and total ticks of CPU 0, where the servers run, from /proc/stat. */
function cpu0Ticks(): { busy: number; total: number } {
  const line = readOr("/proc/stat").split("\n").find((l) => l.startsWith("cpu0 "));
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    (line?.split(/\s+/).slice(1, 9) ?? []).map(Number);
  // irq and softirq stay out of "busy": loopback packet processing for the benchmark's own traffic
  // lands there (often in ksoftirqd, outside the server's ticks), and it is not noise.
  return {
    busy: user + nice + system + steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}

/**
 * How busy CPU 0 was with anything but the server during a run, in percent: a noise gauge for a
 * shared machine, and a lower bound (the server's ticks include softirq work left out of "busy").
 * Only meaningful when the server alone is pinned there.
 */
function otherCpuPercent(
  bench: Bench,
  server: Server,
  before: { busy: number; total: number },
  after: { busy: number; total: number },
  serverTicks: number,
): number {
  const spread = server.kind !== "deno" && server.kind !== "nginx" && bench.opts.workers > 1; // CPUs 0-1, shared with wrk
  if (!bench.pin || spread || after.total === before.total) return NaN;
  const other = after.busy - before.busy - serverTicks;
  return Math.max(0, other) / (after.total - before.total) * 100;
}

/** Nanoseconds on CPU and waiting on a runqueue, summed over a process's threads (schedstat). */
function schedNs(pid: number): { run: number; wait: number } | null {
  let run = 0;
  let wait = 0;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const [taskRun = 0, taskWait = 0] = readOr(`/proc/${pid}/task/${task.name}/schedstat`).split(" ").map(
        Number,
      );
      run += taskRun;
      wait += taskWait;
    }
  } catch {
    return null; // exited
  }
  return { run, wait };
}

function openFileLimit(): number {
  const line = readOr("/proc/self/limits").split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

// ---- wrk and strace ---------------------------------------------------------------------------

function latencyMs(text: string, percentile: number): number {
  const m = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(text);
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000 };
  const ms = m ? Number(m[1]) * scale[m[2]!]! : NaN;
  return ms > 0 ? ms : NaN; // wrk prints 0.00us for a percentile it lost track of (seen when pipelining)
}

function wrkArgs(bench: Bench, scenario: LoadScenario, port: number, seconds: number): string[] {
  const connections = bench.opts.connections ?? scenario.connections;
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s"];
  for (const header of scenario.headers) args.push("-H", header);
  if (scenario.pipeline) args.push("-s", bench.lua);
  args.push(`${scenario.tls ? "https" : "http"}://127.0.0.1:${port}${scenario.path}`);
  return bench.pin ? ["taskset", "-c", "1", "wrk", ...args] : ["wrk", ...args];
}

/** Registers a helper process so that an interrupt can stop it. */
function track(bench: Bench, child: Deno.ChildProcess): Deno.ChildProcess {
  bench.tools.add(child);
  child.status.finally(() => bench.tools.delete(child));
  return child;
}

/** One wrk run; the server's CPU ticks and CPU 0's are read from /proc before and after. */
async function runWrk(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  seconds: number,
): Promise<Sample> {
  if (bench.interrupted) throw new Error("Interrupted"); // no new load while stopping
  const argv = wrkArgs(bench, scenario, server.port, seconds);
  const before = cpuTicks(server.pid);
  const cpu0Before = cpu0Ticks();
  const child = track(
    bench,
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout((seconds + 15) * 1_000), // wrk stops itself; this catches a hang
    }).spawn(),
  );
  // wrk's schedstat vanishes with it, so the last reading before it exits stands for the run.
  let wrkSched = { run: 0, wait: 0 };
  const poll = setInterval(() => wrkSched = schedNs(child.pid) ?? wrkSched, 100);
  const out = await child.output();
  clearInterval(poll);
  const after = cpuTicks(server.pid);
  const user = after.user - before.user;
  const ticks = user + after.sys - before.sys;
  const cpu0After = cpu0Ticks();
  const text = decoder.decode(out.stdout);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  if (!out.success || requests === 0) {
    throw new Error(
      `wrk against ${server.label} completed no request:\n${text}${decoder.decode(out.stderr)}`,
    );
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p50Ms: latencyMs(text, 50),
    p99Ms: latencyMs(text, 99),
    cpuUsPerRequest: (ticks / bench.clkTck) * 1e6 / requests,
    userUsPerRequest: (user / bench.clkTck) * 1e6 / requests,
    errors: non2xx + (socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0),
    otherCpuPercent: otherCpuPercent(bench, server, cpu0Before, cpu0After, ticks),
    wrkWaitPercent: wrkSched.run ? wrkSched.wait / (wrkSched.run + wrkSched.wait) * 100 : NaN,
  };
}

/** An extra run under `strace -c -f -p PID`: calls per request, in total and the top five. */
async function straceRun(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
): Promise<{ perRequest: number; top: string }> {
  const file = `${bench.dir}/strace-${scenario.name}-${server.kind}.txt`;
  const strace = track(
    bench,
    new Deno.Command("strace", {
      args: ["-c", "-f", "-p", String(server.pid), "-o", file],
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout((bench.opts.duration + STRACE_MIN_SECONDS + 30) * 1_000),
    }).spawn(),
  );
  await sleep(500); // attaching to every thread takes a moment
  let sample: Sample;
  try {
    sample = await runWrk(bench, server, scenario, Math.max(STRACE_MIN_SECONDS, bench.opts.duration));
  } finally {
    strace.kill("SIGINT"); // detach; strace writes its summary to the file
    await strace.status;
  }
  const counts: [string, number][] = [];
  for (const line of readOr(file).split("\n")) {
    // "% time  seconds  usecs/call  calls  [errors]  syscall"
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== "total") counts.push([m[2]!, Number(m[1])]);
  }
  if (!counts.length) {
    throw new Error(`strace produced no summary for ${server.label}: ${readOr(file).trim()}`);
  }
  counts.sort((a, b) => b[1] - a[1]);
  const total = counts.reduce((a, [, n]) => a + n, 0);
  const top = counts.filter(([, n]) => n / sample.requests >= 0.005).slice(0, 5)
    .map(([name, n]) => `${name} ${formatNumber(n / sample.requests, 2)}`);
  return { perRequest: total / sample.requests, top: top.join(", ") };
}

// ---- load scenarios ---------------------------------------------------------------------------

function fail(bench: Bench, message: string): void {
  if (bench.interrupted) return;
  bench.failures++;
  bench.notes.push(message);
  progress(`FAILED ${message}`);
}

/** Starts every selected server for a scenario and checks that it serves the fixture bytes. */
async function startForScenario(bench: Bench, scenario: LoadScenario): Promise<Server[]> {
  const servers: Server[] = [];
  for (const kind of bench.opts.servers) {
    if (!takesPart(bench, kind, scenario)) continue;
    try {
      const server = await startServer(bench, kind, scenario);
      await checkBody(bench, server, scenario, await expectedBody(bench, scenario));
      servers.push(server);
    } catch (e) {
      fail(bench, `${scenario.name}: ${errorText(e)}`);
    }
  }
  for (const server of bench.live) if (!servers.includes(server)) await server.stop();
  return servers;
}

/** Warm-up, then `rounds` runs per server in rotation (A B C A B C ...), then optional strace. */
async function runLoadScenario(bench: Bench, scenario: LoadScenario): Promise<LoadRow[]> {
  let servers = await startForScenario(bench, scenario);
  const samples = new Map<Server, Sample[]>(servers.map((s) => [s, []]));
  const traced = new Map<Server, { perRequest: number; top: string }>();
  // A server whose run fails leaves the rotation; the others go on.
  const attempt = async (server: Server, run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      fail(bench, `${scenario.name}: ${errorText(e)}`);
      servers = servers.filter((s) => s !== server);
    }
  };
  try {
    for (const server of servers) {
      await attempt(server, async () => {
        await runWrk(bench, server, scenario, WARMUP_SECONDS);
      });
    }
    for (let round = 1; round <= bench.opts.rounds; round++) {
      for (const server of servers) {
        progress(`${scenario.name} round ${round}/${bench.opts.rounds}: ${server.label}`);
        await attempt(server, async () => {
          samples.get(server)!.push(await runWrk(bench, server, scenario, bench.opts.duration));
        });
      }
    }
    for (const server of bench.opts.strace ? servers : []) {
      progress(`${scenario.name}: ${server.label} under strace`);
      await attempt(server, async () => {
        traced.set(server, await straceRun(bench, server, scenario));
      });
    }
  } finally {
    for (const server of samples.keys()) await server.stop();
  }
  return loadRows(scenario, samples, traced);
}

function loadRows(
  scenario: LoadScenario,
  samples: Map<Server, Sample[]>,
  traced: Map<Server, { perRequest: number; top: string }>,
): LoadRow[] {
  const cpu = new Map<ServerKind, number>();
  for (const [server, runs] of samples) {
    if (runs.length) cpu.set(server.kind, median(runs.map((r) => r.cpuUsPerRequest)));
  }
  const relative = (own: number, kind: ServerKind) => cpu.has(kind) ? own / cpu.get(kind)! : null;
  const rows: LoadRow[] = [];
  for (const [server, runs] of samples) {
    if (!runs.length) continue;
    const own = cpu.get(server.kind)!;
    rows.push({
      scenario: scenario.name,
      server: server.label,
      rps: median(runs.map((r) => r.rps)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      cpuUsPerRequest: own,
      userUsPerRequest: median(runs.map((r) => r.userUsPerRequest)),
      vsDeno: relative(own, "deno"),
      vsNginx: relative(own, "nginx"),
      vsFloor: relative(own, "floor"),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      otherCpuPercent: Math.max(...runs.map((r) => r.otherCpuPercent)),
      wrkWaitPercent: Math.max(...runs.map((r) => r.wrkWaitPercent)),
      runs: runs.length,
      syscallsPerRequest: traced.get(server)?.perRequest ?? null,
      topSyscalls: traced.get(server)?.top ?? null,
    });
  }
  return rows;
}

// ---- startup ----------------------------------------------------------------------------------

/** Milliseconds from spawn to the first 200 on GET /, polling with fetch every 5 ms. */
async function timeStartup(bench: Bench, kind: ServerKind): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const server = launch(bench, kind, { scenario: LOAD_SCENARIOS[0]!, port, extra: [] });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && !server.exited) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await sleep(STARTUP_POLL_MS);
    }
    const why = server.exited ? "exited" : `did not answer within ${READY_TIMEOUT_MS / 1000} s`;
    throw new Error(
      `${server.label} (port ${port}) ${why} before its first 200; its stderr:\n` +
        (server.stderrText().trim() || "(empty)"),
    );
  } finally {
    await server.stop();
  }
}

async function runStartup(bench: Bench): Promise<StartupRow[]> {
  const rows: StartupRow[] = [];
  for (const kind of bench.opts.servers.filter((k) => PROCESS_KINDS.includes(k))) {
    if (kind === "nginx" && !bench.nginx) continue;
    progress(`startup: ${SERVER_LABELS[kind]}`);
    try {
      await timeStartup(bench, kind); // untimed: fills Deno's module cache and the page cache
      const times: number[] = [];
      for (let i = 0; i < STARTUP_SAMPLES; i++) times.push(await timeStartup(bench, kind));
      rows.push({
        server: SERVER_LABELS[kind],
        medianMs: median(times),
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        samples: times.length,
      });
    } catch (e) {
      fail(bench, `startup: ${errorText(e)}`);
    }
  }
  return rows;
}

// ---- idle connections -------------------------------------------------------------------------

const GET_ROOT = encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");

function indexOfHeadEnd(bytes: Uint8Array, length: number): number {
  for (let i = 3; i < length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** Sends GET / and reads one response with a Content-Length body; returns its status. */
async function roundTrip(conn: Deno.Conn): Promise<number> {
  await conn.write(GET_ROOT);
  let buf = new Uint8Array(8192);
  let length = 0;
  let need = Infinity;
  while (length < need) {
    if (length === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const n = await conn.read(buf.subarray(length));
    if (n === null) throw new Error("Connection closed before a whole response arrived");
    length += n;
    const headEnd = need === Infinity ? indexOfHeadEnd(buf, length) : -1;
    if (headEnd > 0) {
      const head = decoder.decode(buf.subarray(0, headEnd));
      const contentLength = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!contentLength) throw new Error(`Response without Content-Length: ${head.split("\r\n")[0]}`);
      need = headEnd + Number(contentLength[1]);
    }
  }
  return Number(decoder.decode(buf.subarray(9, 12)));
}

async function newRequestMs(port: number): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await roundTrip(conn);
  } finally {
    conn.close();
  }
  return performance.now() - started;
}

/** Opens up to `count` keep-alive connections (one request each) until `deadline`. */
async function openIdle(port: number, count: number, deadline: number, conns: Deno.Conn[]): Promise<string> {
  try {
    while (conns.length < count) {
      const batch = Array.from({ length: Math.min(IDLE_BATCH, count - conns.length) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        if (Date.now() > deadline) return conn.close(); // late: the caller has stopped counting
        conns.push(conn); // before the request, so that the caller's cleanup reaches it
        await roundTrip(conn);
      });
      if ((await within(Promise.all(batch), deadline - Date.now(), "expired")) === "expired") {
        return `stopped by the time budget at ${conns.length} connections`;
      }
    }
    return "";
  } catch (e) {
    return `stopped at ${conns.length} connections: ${errorText(e)}`;
  }
}

/** Requests on a spread of the held connections: were they kept open by the server? */
async function sampleHeld(conns: Deno.Conn[]): Promise<string> {
  let closed = 0;
  const picks = Array.from({ length: 10 }, (_, i) => conns[Math.floor(i * conns.length / 10)]!);
  for (const conn of picks) {
    try {
      if (!await within(roundTrip(conn).then(() => true), 2_000, false)) closed++;
    } catch {
      closed++;
    }
  }
  return closed ? `${closed} of 10 sampled held connections no longer answered` : "";
}

async function idleForServer(
  bench: Bench,
  kind: ServerKind,
  deadline: number,
  count: number,
): Promise<IdleRow> {
  // Keep-alive timeouts are raised so that the first connections outlive the scenario.
  const extra = kind === "rawserve" || kind === "baseline"
    ? ["--idle-timeout", String(IDLE_KEEPALIVE_S)]
    : [];
  const server = await startServer(bench, kind, LOAD_SCENARIOS[0]!, extra);
  const conns: Deno.Conn[] = [];
  try {
    // One second of load first, as a serving server has had: rawserve's JIT pages in V8's
    // compiler and the optimised code (~6 MiB of the binary and of malloc's heap, measured with
    // /proc/PID/smaps), a one-time cost that is not any connection's.
    await runWrk(bench, server, LOAD_SCENARIOS[0]!, 1);
    await sleep(500);
    const rssBefore = rssKiB(server.pid);
    const stopped = await openIdle(server.port, count, deadline, conns);
    await sleep(1_000); // let the server finish its bookkeeping before reading RSS
    const rssAfter = rssKiB(server.pid);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) latencies.push(await newRequestMs(server.port));
    const held = stopped ? "" : await sampleHeld(conns);
    return {
      server: server.label,
      connections: conns.length,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rssAfter,
      kibPerConnection: conns.length ? (rssAfter - rssBefore) / conns.length : NaN,
      newRequestP50Ms: median(latencies),
      newRequestMaxMs: Math.max(...latencies),
      note: [stopped, held].filter(Boolean).join("; "),
    };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by a deadline or the server
      }
    }
    await server.stop();
  }
}

async function runIdleHere(bench: Bench, count: number, note: string): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  const kinds = bench.opts.servers.filter((k) => PROCESS_KINDS.includes(k) && (k !== "nginx" || bench.nginx));
  const end = Date.now() + IDLE_BUDGET_MS;
  for (const [i, kind] of kinds.entries()) {
    progress(`idle10k: ${count} keep-alive connections to ${SERVER_LABELS[kind]}`);
    const deadline = Date.now() + (end - Date.now()) / (kinds.length - i); // an even share of what is left
    try {
      const row = await idleForServer(bench, kind, deadline, count);
      if (note) row.note = [note, row.note].filter(Boolean).join("; ");
      rows.push(row);
    } catch (e) {
      fail(bench, `idle10k: ${errorText(e)}`);
    }
  }
  return rows;
}

/**
 * idle10k needs about N descriptors in this process and N in each server. Deno raises its soft
 * limit to the hard one at start, so when that is too low only a shell running as root can help:
 * this re-runs the scenario under `ulimit -n`, and holds fewer connections if that fails.
 */
async function runIdle(bench: Bench): Promise<IdleRow[]> {
  const count = bench.opts.idleConnections;
  const limit = openFileLimit();
  if (limit >= count + IDLE_FD_MARGIN) return await runIdleHere(bench, count, "");
  const fewer = Math.max(0, limit - IDLE_FD_MARGIN);
  if (bench.opts.child) return await runIdleHere(bench, fewer, `open-file limit ${limit}: held ${fewer}`);
  progress(`idle10k: open-file limit ${limit} < ${count + IDLE_FD_MARGIN}; re-running under ulimit -n`);
  const rows = await runIdleRaised(bench, count + IDLE_FD_MARGIN);
  if (rows) return rows;
  const note = `open-file limit ${limit} and \`ulimit -n ${count + IDLE_FD_MARGIN}\` refused: held ${fewer}`;
  return await runIdleHere(bench, fewer, note);
}

/** This script again, `--child --only idle10k --json`, under `ulimit -n LIMIT`; null if refused. */
async function runIdleRaised(bench: Bench, limit: number): Promise<IdleRow[] | null> {
  const o = bench.opts;
  const args = ["--child", "--json", "--only", "idle10k", "--servers", o.servers.join(",")];
  args.push("--idle-connections", String(o.idleConnections), "--workers", String(o.workers));
  if (!o.pin) args.push("--no-pin");
  // The child starts the same servers: the baseline's checkout and our extra flags go with it.
  if (o.baseline !== null) args.push("--baseline", o.baseline);
  if (o.rawserveFlags.length) args.push(`--rawserve-flags=${o.rawserveFlags.join(" ")}`);
  const script = decodeURIComponent(new URL(import.meta.url).pathname);
  const shell = 'ulimit -n "$1" || exit 99; shift; exec "$@"';
  const out = await track(
    bench,
    new Deno.Command("bash", {
      args: ["-c", shell, "bash", String(limit), Deno.execPath(), "run", "-A", script, ...args],
      stdout: "piped",
      stderr: "inherit",
      signal: AbortSignal.timeout(IDLE_BUDGET_MS + 60_000),
    }).spawn(),
  ).output();
  if (out.code === 99) return null;
  try {
    const report = JSON.parse(decoder.decode(out.stdout)) as { idle: IdleRow[]; notes: string[] };
    bench.notes.push(...report.notes);
    if (out.code !== 0) bench.failures++;
    return report.idle;
  } catch {
    fail(bench, `idle10k: the re-run under ulimit -n ${limit} failed (exit ${out.code})`);
    return [];
  }
}

// ---- report -----------------------------------------------------------------------------------

const numberFormats = new Map<string, Intl.NumberFormat>();
const RATIO_FORMAT = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function formatNumber(x: number | null, digits: number, significant = false): string {
  if (x === null || Number.isNaN(x)) return "–";
  const key = `${digits}${significant}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(
      "en-US",
      significant ? { maximumSignificantDigits: digits } : { maximumFractionDigits: digits },
    );
    numberFormats.set(key, format);
  }
  return format.format(x);
}

function ratio(x: number | null): string {
  return x === null ? "–" : `${RATIO_FORMAT.format(x)}×`;
}

function markdownTable(header: string[], align: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(align), ...rows.map(line)].join("\n");
}

function describeMachine(bench: Bench): string {
  const o = bench.opts;
  const wrk = /wrk\s+(\S+)/.exec(commandOutput("wrk", ["--version"]))?.[1] ?? "?";
  const nginx = !o.servers.includes("nginx")
    ? "not selected"
    : bench.nginx
    ? /nginx\/(\S+)/.exec(commandOutput("nginx", ["-v"]))?.[1] ?? "?"
    : "not installed";
  const load = LOAD_SCENARIOS.some((s) => o.only.includes(s.name))
    ? `; medians of ${o.rounds} rotating ${o.duration} s runs after a ${WARMUP_SECONDS} s warm-up; ` +
      `CPU from /proc/PID/stat at ${bench.clkTck} ticks/s`
    : "";
  const date = new Date().toISOString().slice(0, 10);
  return `${date}, ${navigator.hardwareConcurrency} CPUs, ` +
    `Linux ${readOr("/proc/sys/kernel/osrelease").trim()}, Deno ${Deno.version.deno}, wrk ${wrk}, ` +
    `nginx ${nginx}; ${bench.pin ? "servers on CPU 0, wrk on CPU 1" : "not pinned"}${load}`;
}

/** The worse of the two noise gauges of a row, in percent (NaN when neither was measured). */
function noisePercent(row: LoadRow): number {
  const gauges = [row.otherCpuPercent, row.wrkWaitPercent].filter((x) => !Number.isNaN(x));
  return gauges.length ? Math.max(...gauges) : NaN;
}

function loadTable(rows: LoadRow[]): string {
  const strace = rows.some((r) => r.syscallsPerRequest !== null);
  const header = ["scenario", "server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "user µs"];
  header.push("vs Deno.serve", "vs nginx", "vs floor", "errors", "noise %");
  if (strace) header.push("syscalls/req");
  const align = ["---", "---", ...Array<string>(header.length - 2).fill("---:")];
  const body = rows.map((r) => {
    const cells = [
      r.scenario,
      r.server,
      formatNumber(r.rps, 0),
      formatNumber(r.p50Ms, 3, true),
      formatNumber(r.p99Ms, 3, true),
      formatNumber(r.cpuUsPerRequest, 2),
      formatNumber(r.userUsPerRequest, 2),
      ratio(r.vsDeno),
      ratio(r.vsNginx),
      ratio(r.vsFloor),
      formatNumber(r.errors, 0),
      formatNumber(noisePercent(r), 0),
    ];
    if (strace) cells.push(formatNumber(r.syscallsPerRequest, 2));
    return cells;
  });
  return markdownTable(header, align, body);
}

function startupTable(rows: StartupRow[]): string {
  return markdownTable(
    ["startup: spawn to first 200", "median ms", "min ms", "max ms", "starts"],
    ["---", "---:", "---:", "---:", "---:"],
    rows.map((r) => [
      r.server,
      formatNumber(r.medianMs, 1),
      formatNumber(r.minMs, 1),
      formatNumber(r.maxMs, 1),
      String(r.samples),
    ]),
  );
}

function idleTable(rows: IdleRow[]): string {
  return markdownTable(
    [
      "idle keep-alive",
      "connections",
      "RSS before KiB",
      "RSS after KiB",
      "KiB/conn",
      "new req p50 ms",
      "max ms",
      "note",
    ],
    ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---"],
    rows.map((r) => [
      r.server,
      formatNumber(r.connections, 0),
      formatNumber(r.rssBeforeKiB, 0),
      formatNumber(r.rssAfterKiB, 0),
      formatNumber(r.kibPerConnection, 2),
      formatNumber(r.newRequestP50Ms, 3, true),
      formatNumber(r.newRequestMaxMs, 3, true),
      r.note,
    ]),
  );
}

function printMarkdown(bench: Bench, report: Report): void {
  const parts = [describeMachine(bench)];
  if (report.load.length) parts.push(loadTable(report.load));
  const traced = report.load.filter((r) => r.topSyscalls !== null);
  if (traced.length) {
    parts.push(traced.map((r) => `- ${r.scenario} ${r.server}: ${r.topSyscalls}`).join("\n"));
  }
  if (report.startup.length) parts.push(startupTable(report.startup));
  if (report.idle.length) parts.push(idleTable(report.idle));
  const noisy = report.load.filter((r) => noisePercent(r) > NOISY_PERCENT);
  if (noisy.length) {
    bench.notes.push(
      `noise % (the larger of: CPU 0 busy with work other than the server; wrk waiting for CPU 1) ` +
        `reached ${formatNumber(Math.max(...noisy.map(noisePercent)), 0)}% in ${noisy.length} row(s): ` +
        `other processes competed with the benchmark; rerun those on an idle machine`,
    );
  }
  if (bench.notes.length) {
    parts.push(bench.notes.map((n) => `- ${n.trim().replaceAll("\n", "\n    ")}`).join("\n"));
  }
  console.log(parts.join("\n\n"));
}

function printJson(bench: Bench, report: Report): void {
  const o = bench.opts;
  const meta = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    pinned: bench.pin,
    clkTck: bench.clkTck,
    durationS: o.duration,
    rounds: o.rounds,
    workers: o.workers,
    servers: o.servers,
  };
  console.log(JSON.stringify({ meta, ...report, notes: bench.notes }, null, 2));
}

// ---- main -------------------------------------------------------------------------------------

function checkTools(opts: Options): { nginx: boolean; pin: boolean } {
  if (!onPath("wrk")) {
    console.error("bench: wrk is not installed (nginx is optional). Install them with:");
    console.error("apt-get install -y wrk nginx-light");
    Deno.exit(1);
  }
  const nginx = opts.servers.includes("nginx") && onPath("nginx");
  if (opts.servers.includes("nginx") && !nginx) {
    progress("nginx not found; its rows are skipped. To include them:");
    console.error("apt-get install -y wrk nginx-light");
  }
  const pin = opts.pin && onPath("taskset");
  if (opts.pin && !pin) progress("taskset not found; servers and wrk are not pinned");
  if (opts.strace && !onPath("strace")) {
    progress("strace not found; --strace ignored (apt-get install -y strace)");
    opts.strace = false;
  }
  return { nginx, pin };
}

/** Compiles scripts/ref/floor.c with cc into the bench directory; null when that fails. */
function buildFloor(repo: string, dir: string): string | null {
  const binary = `${dir}/floor`;
  try {
    const out = new Deno.Command("cc", {
      args: ["-O2", "-o", binary, `${repo}/scripts/ref/floor.c`],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (out.success) return binary;
    progress(`C floor: cc failed: ${decoder.decode(out.stderr).trim()}`);
  } catch {
    progress("C floor: cc not found; its rows are skipped (apt-get install -y gcc)");
  }
  return null;
}

function setUp(opts: Options): Bench {
  const repo = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
  if (opts.servers.includes("rawserve") && !readOr(`${repo}/main.ts`)) {
    throw new Error(
      `${repo}/main.ts not found: rawserve cannot start (bench the others with --servers deno,nginx)`,
    );
  }
  const tools = checkTools(opts);
  const page = EMBEDDED_PAGE;
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-bench-" });
  const { site, lua } = writeFixtures(dir, page, repo);
  const floor = opts.servers.includes("floor") ? buildFloor(repo, dir) : null;
  const clkTck = Number(commandOutput("getconf", ["CLK_TCK"])) || 100;
  const wantsTls = LOAD_SCENARIOS.some((sc) => sc.tls && opts.only.includes(sc.name));
  const tls = wantsTls ? makeCertificate(dir) : null;
  const bench: Bench = {
    opts,
    repo,
    dir,
    site,
    lua,
    page,
    pin: tools.pin,
    clkTck,
    nginx: tools.nginx,
    floor,
    tls,
    live: new Set(),
    tools: new Set(),
    notes: [],
    failures: 0,
    interrupted: false,
  };
  if (wantsTls && !tls) {
    bench.notes.push(
      "HTTPS scenarios: no certificate (no openssl CLI; apt-get install -y openssl): rows missing",
    );
  }
  if (opts.servers.includes("floor") && !floor) {
    bench.notes.push("C floor: not built (no cc on PATH; apt-get install -y gcc): its rows are missing");
  }
  if (opts.duration < 3) {
    progress(`--duration ${opts.duration}: CPU µs/req is coarse below 3 s at ${clkTck} Hz`);
  }
  return bench;
}

/**
 * An ECDSA P-256 certificate for localhost signed by a throwaway CA (Deno's fetch, which checks
 * the answer before a run, takes no self-signed certificate as its own CA), for both servers'
 * HTTPS; null without the openssl CLI.
 */
function makeCertificate(dir: string): Bench["tls"] {
  const ca = `${dir}/ca.pem`, cert = `${dir}/cert.pem`, key = `${dir}/key.pem`;
  const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
  const steps = [
    ["req", "-x509", ...EC, "-keyout", `${dir}/ca.key`, "-out", ca, "-subj", "/CN=rawserve bench CA"],
    [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      key,
      "-out",
      cert,
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-CA",
      ca,
      "-CAkey",
      `${dir}/ca.key`,
    ],
  ];
  try {
    for (const args of steps) {
      if (!new Deno.Command("openssl", { args, stdout: "null", stderr: "null" }).outputSync().success) {
        return null;
      }
    }
  } catch {
    return null;
  }
  const pem = Deno.readTextFileSync(ca);
  return { cert, key, pem, client: Deno.createHttpClient({ caCerts: [pem] }) };
}

async function tearDown(bench: Bench): Promise<void> {
  bench.tls?.client.close();
  for (const tool of bench.tools) {
    try {
      tool.kill("SIGTERM");
    } catch {
      // exited meanwhile
    }
  }
  for (const server of [...bench.live]) await server.stop();
  try {
    Deno.removeSync(bench.dir, { recursive: true });
  } catch {
    // already gone
  }
}

async function runAll(bench: Bench): Promise<Report> {
  const report: Report = { load: [], startup: [], idle: [] };
  for (const scenario of LOAD_SCENARIOS) {
    if (!bench.opts.only.includes(scenario.name)) continue;
    const kinds = bench.opts.servers.filter((k) => takesPart(bench, k, scenario));
    progress(`${scenario.name}: starting ${kinds.map((k) => SERVER_LABELS[k]).join(", ")}`);
    report.load.push(...await runLoadScenario(bench, scenario));
  }
  if (bench.opts.only.includes("startup")) report.startup = await runStartup(bench);
  if (bench.opts.only.includes("idle10k")) report.idle = await runIdle(bench);
  return report;
}

async function main(): Promise<number> {
  let bench: Bench;
  try {
    bench = setUp(parseOptions(Deno.args));
  } catch (e) {
    console.error(`bench: ${errorText(e)}\n\n${USAGE}`);
    return 2;
  }
  const interrupt = async () => {
    bench.interrupted = true;
    progress("interrupted: stopping servers");
    await tearDown(bench);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  try {
    const report = await runAll(bench);
    if (bench.opts.json) printJson(bench, report);
    else printMarkdown(bench, report);
  } finally {
    await tearDown(bench);
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
  }
  return bench.failures ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
