// Server processes: which servers take part in a scenario, the command that starts each, and
// starting, waiting for and stopping them, every step bounded in time.

import type { Bench, Server } from "./context.ts";
import { nginxConfig } from "./nginx.ts";
import { type LoadScenario, RAWSERVE_KINDS, SERVER_LABELS, type ServerKind } from "./scenarios.ts";
import { decoder, freePort, sleep, within } from "./util.ts";
import { readOr } from "../measure.ts";

export const READY_TIMEOUT_MS = 10_000; // a server that has not printed its URL by then is reported as failed

const STDERR_KEEP = 16_384; // bytes of a server's stderr kept for error messages
const URL_PATTERN = /https?:\/\/[^\s]+/; // servers get NO_COLOR=1, so no escape codes follow the URL

interface LaunchOptions {
  scenario: LoadScenario;
  port: number; // 0: ephemeral, read back from the server's URL line (nginx: picked here)
  extra: string[];
  /** More environment for the server (e.g. DENO_V8_FLAGS). */
  env?: Record<string, string>;
}

/**
 * Whether `kind` takes part in `scenario`. The floors answer fixed responses without content
 * codings or TLS (an application's too); the C floor small ones only, the Deno floor the 1 MiB
 * file too (sendfile).
 */
export function takesPart(bench: Bench, kind: ServerKind, scenario: LoadScenario): boolean {
  // serve() against Deno.serve, both running scripts/apps/ws_echo.ts, and the baseline's serve()
  // (its own ws_server.ts, so its own mod.ts) when one is given.
  if (scenario.ws) {
    return kind === "rawserve" || kind === "deno" || (kind === "baseline" && bench.opts.baseline !== null);
  }
  // This checkout's rawserve, a baseline that has h2 (http/h2/), nginx and Deno.serve, all over
  // TLS. Not Deno.serve over HTTPS/1.1 (https-page): it holds each answer under 64 KiB for ~40 ms
  // there (wrk and h2load alike, 126 req/s on 6 connections, 2026-12-06), so its row would time that wait.
  if (scenario.h2load) {
    if (!bench.h2load || bench.tls === null) return false;
    if (kind === "deno") return scenario.h2load.protocol === "h2";
    if (kind === "baseline" || kind === "baseline-quiet") return baselineSpeaksH2(bench);
    return kind === "nginx" ? bench.nginx : kind === "rawserve" || kind === "quiet";
  }
  // The floors answer an application's fixed answer to the load generator's request (written
  // when the scenario starts): what a server pays per request with no HTTP and no application.
  if (scenario.app && (kind === "nginx" || kind === "deno-routing")) return false;
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

/** Whether the baseline checkout has HTTP/2 (older ones answer h2load's ALPN with HTTP/1.1 only). */
function baselineSpeaksH2(bench: Bench): boolean {
  try {
    return bench.opts.baseline !== null && Deno.statSync(`${bench.opts.baseline}/http/h2/session.ts`).isFile;
  } catch {
    return false;
  }
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
  if (scenario.ws) {
    const checkout = kind === "baseline" ? bench.opts.baseline : bench.repo;
    const script = `${checkout}/scripts/bench/ws_server.ts`;
    const perms = kind === "deno"
      ? ["--allow-net=127.0.0.1"]
      : ["--allow-ffi", "--allow-read", "--allow-env"];
    const serverKind = kind === "deno" ? "deno" : "rawserve";
    argv = [Deno.execPath(), "run", ...perms, script, "--kind", serverKind, "--port", String(port)];
  } else if (RAWSERVE_KINDS.includes(kind)) {
    argv = rawserveCommand(bench, kind, launch);
  } else if (kind === "deno" || kind === "deno-routing") {
    const script = `${bench.repo}/scripts/deno_serve_ref.ts`;
    argv = [Deno.execPath(), "run", "--allow-net=127.0.0.1", "--allow-read", script, "--port", String(port)];
    argv.push("--host", "127.0.0.1");
    if (scenario.app) argv.push("--app", `${bench.repo}/${scenario.app}`);
    else if (scenario.h2load?.uris) argv.push("--dir", bench.site);
    else argv.push("--body", `${bench.site}/${scenario.file}`, "--type", scenario.type);
    if (scenario.tls) argv.push("--cert", bench.tls!.cert, "--key", bench.tls!.key);
    if (kind === "deno-routing") argv.push("--routing");
  } else if (kind === "floor") {
    argv = [bench.floor!, String(port), `${bench.dir}/floor-${scenario.name}.bin`];
  } else if (kind === "deno-floor") {
    const script = `${bench.repo}/scripts/ref/floor.ts`;
    argv = [Deno.execPath(), "run", "--allow-ffi", "--allow-read", "--allow-env", script, String(port)];
    // The 1 MiB file goes out with sendfile(2) after a head of its own (fixtures.ts writes both).
    if (scenario.name === "static1m") {
      argv.push(`${bench.dir}/floor-static1m.head`, `${bench.site}/${scenario.file}`);
    } else argv.push(`${bench.dir}/floor-${scenario.name}.bin`);
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
export function launch(
  bench: Bench,
  kind: ServerKind,
  options: LaunchOptions,
): Server & { ready: Promise<number> } {
  const port = kind === "nginx" && options.port === 0 ? freePort() : options.port;
  const argv = serverCommand(bench, kind, { ...options, port });
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: bench.repo,
    env: { NO_COLOR: "1", ...options.env },
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
    label: options.scenario.ws && kind === "rawserve"
      ? "rawserve serve()"
      : options.scenario.ws && kind === "baseline"
      ? "baseline serve()"
      : SERVER_LABELS[kind],
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

/** Starts a server for `scenario` and waits until it accepts connections (throws if it does not). */
export async function startServer(
  bench: Bench,
  kind: ServerKind,
  scenario: LoadScenario,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Server> {
  return await waitReady(launch(bench, kind, { scenario, port: 0, extra, env }));
}
