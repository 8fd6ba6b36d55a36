// One measured run of an h2load scenario: h2load (Debian's nghttp2-client) pinned to CPU 1 over
// TLS against one server, the server's CPU read around it (wrk.ts's measureRun). h2load prints no
// percentiles, so latency comes from its --log-file (microseconds per request). The run fails
// unless h2load negotiated the scenario's protocol: an h2 row must be HTTP/2.

import type { Bench, Server } from "./context.ts";
import type { LoadScenario } from "./scenarios.ts";
import { type ClientFigures, measureRun, type Sample } from "./wrk.ts";
import { median, readOr } from "../measure.ts";

/** h2load's command line: -c connections, -m streams each, -D seconds, the URI list or one URI. */
function h2loadArgs(
  bench: Bench,
  scenario: LoadScenario,
  port: number,
  seconds: number,
  log: string,
): string[] {
  const load = scenario.h2load!;
  const connections = bench.opts.connections ?? scenario.connections;
  const args = ["-t1", `-c${connections}`, `-m${load.streams}`, `-D${seconds}`, `--log-file=${log}`];
  if (load.protocol === "http/1.1") args.push("--h1");
  const base = `https://127.0.0.1:${port}`;
  if (load.uris) {
    const list = `${bench.dir}/h2load-${scenario.name}.txt`;
    Deno.writeTextFileSync(list, load.uris.map((u) => `${base}${u}\n`).join(""));
    args.push("-i", list);
  } else {
    args.push(`${base}${scenario.path}`);
  }
  return bench.pin ? ["taskset", "-c", "1", "h2load", ...args] : ["h2load", ...args];
}

/** p50 and p99 in ms from h2load's log (start µs, status, µs to the end of the response). */
function logLatency(log: string): { p50Ms: number; p99Ms: number } {
  const us = readOr(log).split("\n").map((l) => Number(l.split("\t")[2])).filter((x) => x > 0);
  us.sort((a, b) => a - b);
  const at = (p: number) => us.length ? us[Math.min(us.length - 1, Math.floor(us.length * p))]! / 1_000 : NaN;
  return { p50Ms: us.length ? median(us) / 1_000 : NaN, p99Ms: at(0.99) };
}

function parseH2load(
  text: string,
  stderr: string,
  success: boolean,
  scenario: LoadScenario,
  label: string,
): Omit<ClientFigures, "p50Ms" | "p99Ms"> {
  const done =
    /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/
      .exec(text);
  const requests = Number(done?.[1] ?? 0);
  if (!success || requests === 0) {
    throw new Error(`h2load against ${label} completed no request:\n${text}${stderr}`);
  }
  const protocol = /Application protocol: (\S+)/.exec(text)?.[1];
  if (protocol !== scenario.h2load!.protocol) {
    throw new Error(`h2load against ${label} spoke ${protocol}, not ${scenario.h2load!.protocol}`);
  }
  const codes = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const bad = [...(done?.slice(2) ?? []), ...(codes?.slice(1) ?? [])].reduce((a, n) => a + Number(n), 0);
  return {
    requests,
    rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN),
    errors: bad,
  };
}

/** One h2load run against `server`; its log file is removed afterwards. */
export async function runH2load(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  seconds: number,
): Promise<Sample> {
  const log = `${bench.dir}/h2load-${scenario.name}-${server.kind}.log`;
  const argv = h2loadArgs(bench, scenario, server.port, seconds, log);
  try {
    return await measureRun(bench, server, argv, seconds, (text, stderr, success) => ({
      ...parseH2load(text, stderr, success, scenario, server.label),
      ...logLatency(log),
    }));
  } finally {
    try {
      Deno.removeSync(log);
    } catch {
      // h2load never wrote it
    }
  }
}
