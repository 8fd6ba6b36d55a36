// A load scenario: start the servers that take part, check their answers, warm up, then measured
// runs in rotation (A B C A B C ...), optionally one more under strace; medians per server.

import { checkBody, expectedBody } from "./answers.ts";
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

/** Warm-up, then `rounds` runs per server in rotation (A B C A B C ...), then optional strace. */
export async function runLoadScenario(bench: Bench, scenario: LoadScenario): Promise<LoadRow[]> {
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
          samples.get(server)!.push(await runLoad(bench, server, scenario, bench.opts.duration));
        });
      }
    }
    for (const server of bench.opts.strace ? servers : []) {
      progress(`${scenario.name}: ${server.label} under strace`);
      await attempt(server, async () => {
        traced.set(
          server,
          await straceRun(bench, server, scenario, (s) => runLoad(bench, server, scenario, s)),
        );
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
      vsDenoFloor: relative(own, "deno-floor"),
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
