// `deno task bench`: rawserve against its peers, each in its fastest form serving identical bytes,
// loopback only. Servers on CPU 0 and the load generator (wrk; h2load for the h2 rows and the page
// over HTTPS; scripts/bench/ws_load.ts for WebSocket) on CPU 1 (taskset), a 1 s warm-up, then servers in
// rotation for --rounds runs; medians of req/s, latency and server CPU µs per request (user and
// system apart). The peers, per scenario (NGINX_SETTINGS in nginx.ts says why each form is its
// fastest here):
//   rawserve           the defaults a user gets: access log on, written to a file
//   rawserve --quiet   no access log
//   Deno.serve         scripts/deno_serve_ref.ts: one body for every request, handler never reads it
//                      (the page of h2-page and https-page: every file from memory, by path)
//   Deno.serve routing the same, reading the URL as an app would (labelled; the embedded page only)
//   nginx              one worker, the settings measured fastest on this machine for the scenario
//   C floor            scripts/ref/floor.c: one read and one write per request (built with cc)
//   Deno floor (FFI)   scripts/ref/floor.ts: the same over rawserve's ffi/ and reactor (loop/), and
//                      the 1 MiB file as a head and a sendfile: what the runtime costs, without HTTP
// The HTTP/2 rows (h2-13, h2-64k, h2-page: h2load -c 10 -m 10 over TLS, ALPN h2) compare rawserve,
// nginx (listen ssl http2) and Deno.serve (with cert/key); https-page is the same thirty-asset
// page over HTTP/1.1 on six connections, as a browser loads it without h2. The WebSocket rows
// (ws-echo64, ws-echo4k, ws-deflate4k, ws-idle1k) compare rawserve's serve() + upgradeWebSocket() with
// Deno.serve + Deno.upgradeWebSocket(), both running scripts/apps/ws_echo.ts (ws_server.ts).
//
// Usage: deno run -A scripts/bench/main.ts [--only embedded,static13] [--duration 5] [--rounds 3]
//          [--connections N] [--strace] [--json] [--workers N] [--no-pin] [--idle-connections N]
//          [--servers LIST] [--baseline DIR]
// --baseline DIR adds rawserve from another checkout (e.g. a git worktree of the commit before
// a change), with and without --quiet, in the same rotation: before/after in one run.
// Every wrk run, server start and idle-connection phase is bounded in time; all servers are stopped
// and the temporary directory removed at the end and on SIGINT/SIGTERM.
// The parts: options.ts, scenarios.ts (what is compared), setup.ts (fixtures.ts, certificates.ts),
// processes.ts (nginx.ts), answers.ts, wrk.ts, h2load.ts, ws.ts (ws_load.ts, ws_server.ts),
// load.ts, startup.ts, idle.ts, report.ts; what is
// read from /proc comes from ../measure.ts, shared with the end-to-end tests.

import type { Bench } from "./context.ts";
import { runIdle } from "./idle.ts";
import { runLoadScenario } from "./load.ts";
import { parseOptions, USAGE } from "./options.ts";
import { takesPart } from "./processes.ts";
import { printJson, printMarkdown, type Report } from "./report.ts";
import { LOAD_SCENARIOS, SERVER_LABELS } from "./scenarios.ts";
import { setUp, tearDown } from "./setup.ts";
import { runStartup } from "./startup.ts";
import { errorText, progress } from "./util.ts";
import { runWsIdle } from "./ws.ts";

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
  if (bench.opts.only.includes("ws-idle1k")) report.idle.push(...await runWsIdle(bench));
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
