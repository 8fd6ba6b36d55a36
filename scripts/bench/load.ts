// A load scenario: start the servers that take part, check their answers, warm up, then measured
// runs in rotation (A B C A B C ...), optionally one more under strace; medians per server.

import { checkBody, expectedBody } from "./answers.ts";
import { writeAppFloorAnswer } from "./fixtures.ts";
import { type Bench, fail, type Server } from "./context.ts";
import { startServer, takesPart } from "./processes.ts";
import type { LoadRow } from "./report.ts";
import {
  type LoadScenario,
  type ServerKind,
  WARMUP_MAX_SECONDS,
  WARMUP_REQUESTS,
  WARMUP_SECONDS,
} from "./scenarios.ts";
import { errorText, progress } from "./util.ts";
import { runH2load } from "./h2load.ts";
import { runWsLoad } from "./ws.ts";
import { runWrk, type Sample, straceRun } from "./wrk.ts";
import { median } from "../measure.ts";

/** Starts every selected server for a scenario and checks that it serves the fixture bytes. */
async function startForScenario(bench: Bench, scenario: LoadScenario): Promise<Server[]> {
  const servers: Server[] = [];
  for (const kind of bench.opts.servers) {
    if (!takesPart(bench, kind, scenario)) continue;
    try {
      const server = await startServer(bench, kind, scenario);
      // ws_load.ts checks every echo itself; a page is checked asset by asset.
      const assets = scenario.ws
        ? []
        : scenario.h2load?.uris?.map((path) => ({ ...scenario, path, file: path.slice(1) })) ?? [scenario];
      for (const asset of assets) await checkBody(bench, server, asset, await expectedBody(bench, asset));
      servers.push(server);
    } catch (e) {
      fail(bench, `${scenario.name}: ${errorText(e)}`);
    }
  }
  for (const server of bench.live) if (!servers.includes(server)) await server.stop();
  return servers;
}

/** One measured run with the scenario's load generator: wrk, h2load or ws_load.ts. */
function runLoad(bench: Bench, server: Server, scenario: LoadScenario, seconds: number): Promise<Sample> {
  if (scenario.h2load) return runH2load(bench, server, scenario, seconds);
  if (scenario.ws) return runWsLoad(bench, server, scenario, seconds);
  return runWrk(bench, server, scenario, seconds);
}

/** Each server's runs (all its processes'), and its label. */
type Samples = Map<ServerKind, { label: string; runs: Sample[] }>;
/** Each server's strace figures. */
type Traced = Map<ServerKind, { perRequest: number; top: string }>;

/**
 * `processes` times: start the servers, warm each up, `rounds` runs per server in rotation
 * (A B C A B C ...), stop them; then optional strace (on the last processes). Medians per server
 * over all its runs.
 */
export async function runLoadScenario(bench: Bench, scenario: LoadScenario): Promise<LoadRow[]> {
  const samples: Samples = new Map();
  const traced: Traced = new Map();
  if (scenario.app && bench.opts.servers.some((kind) => kind === "floor" || kind === "deno-floor")) {
    await writeAppFloorAnswer(bench, scenario);
  }
  for (let p = 1; p <= bench.opts.processes; p++) {
    if (bench.opts.processes > 1) progress(`${scenario.name}: processes ${p}/${bench.opts.processes}`);
    await runProcesses(
      bench,
      scenario,
      samples,
      bench.opts.strace && p === bench.opts.processes ? traced : null,
    );
  }
  return loadRows(scenario, samples, traced);
}

/** One set of server processes: warm-up, rounds in rotation, strace when `traced` is given. */
async function runProcesses(
  bench: Bench,
  scenario: LoadScenario,
  samples: Samples,
  traced: Traced | null,
): Promise<void> {
  let servers = await startForScenario(bench, scenario);
  // A server whose run fails leaves the rotation; the others go on.
  const attempt = async (server: Server, run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      fail(bench, `${scenario.name}: ${errorText(e)}`);
      servers = servers.filter((s) => s !== server);
    }
  };
  const started = [...servers];
  for (const server of started) {
    if (!samples.has(server.kind)) samples.set(server.kind, { label: server.label, runs: [] });
  }
  try {
    for (const server of servers) {
      await attempt(server, async () => {
        const first = await runLoad(bench, server, scenario, WARMUP_SECONDS);
        if (first.requests >= WARMUP_REQUESTS) return;
        const rate = Math.max(1, first.requests / WARMUP_SECONDS);
        const more = Math.min(WARMUP_MAX_SECONDS, Math.ceil((WARMUP_REQUESTS - first.requests) / rate));
        progress(`${scenario.name}: ${server.label} warms up ${more} s more (${WARMUP_REQUESTS} requests)`);
        await runLoad(bench, server, scenario, more);
      });
    }
    for (let round = 1; round <= bench.opts.rounds; round++) {
      for (const server of servers) {
        progress(`${scenario.name} round ${round}/${bench.opts.rounds}: ${server.label}`);
        await attempt(server, async () => {
          samples.get(server.kind)!.runs.push(await runLoad(bench, server, scenario, bench.opts.duration));
        });
      }
    }
    for (const server of traced ? servers : []) {
      progress(`${scenario.name}: ${server.label} under strace`);
      await attempt(server, async () => {
        traced!.set(
          server.kind,
          await straceRun(bench, server, scenario, (s) => runLoad(bench, server, scenario, s)),
        );
      });
    }
  } finally {
    for (const server of started) await server.stop();
  }
}

function loadRows(scenario: LoadScenario, samples: Samples, traced: Traced): LoadRow[] {
  const cpu = new Map<ServerKind, number>();
  for (const [kind, { runs }] of samples) {
    if (runs.length) cpu.set(kind, median(runs.map((r) => r.cpuUsPerRequest)));
  }
  const relative = (own: number, kind: ServerKind) => cpu.has(kind) ? own / cpu.get(kind)! : null;
  const rows: LoadRow[] = [];
  for (const [kind, { label, runs }] of samples) {
    if (!runs.length) continue;
    const own = cpu.get(kind)!;
    rows.push({
      scenario: scenario.name,
      server: label,
      rps: median(runs.map((r) => r.rps)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      cpuUsPerRequest: own,
      userUsPerRequest: median(runs.map((r) => r.userUsPerRequest)),
      vsDeno: relative(own, "deno"),
      vsNginx: relative(own, "nginx"),
      vsFloor: relative(own, "floor"),
      vsDenoFloor: relative(own, "deno-floor"),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      otherCpuPercent: Math.max(...runs.map((r) => r.otherCpuPercent)),
      wrkWaitPercent: Math.max(...runs.map((r) => r.wrkWaitPercent)),
      runs: runs.length,
      syscallsPerRequest: traced.get(kind)?.perRequest ?? null,
      topSyscalls: traced.get(kind)?.top ?? null,
    });
  }
  return rows;
}
