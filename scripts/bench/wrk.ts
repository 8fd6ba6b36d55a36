// One measured run: a load generator (wrk here; h2load.ts and ws.ts bring theirs) against a server
// with its CPU time, CPU 0's and the generator's scheduling read from /proc around it; and the same
// run under strace for syscalls per request.

import { type Bench, type Server, track } from "./context.ts";
import { formatNumber } from "./report.ts";
import type { LoadScenario } from "./scenarios.ts";
import { decoder, sleep } from "./util.ts";
import { cpuCoreTicks, cpuTicks, readOr, schedNs } from "../measure.ts";

const SERVER_CPU = 0; // where processes.ts pins the servers (wrk runs on CPU 1)
const STRACE_MIN_SECONDS = 3; // 100 Hz accounting and strace start-up want a few seconds

/** One wrk run's figures. */
export interface Sample {
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

/** What a load generator reports of one run, parsed from its output. */
export interface ClientFigures {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * Runs a load generator (`argv`, pinned by the caller) against a server and reads the server's CPU
 * ticks and CPU 0's from /proc before and after; `parse` turns its output into figures.
 * @throws {Error} when the generator fails or completes no request (parse's own errors included)
 */
export async function measureRun(
  bench: Bench,
  server: Server,
  argv: string[],
  seconds: number,
  parse: (stdout: string, stderr: string, success: boolean) => ClientFigures,
): Promise<Sample> {
  if (bench.interrupted) throw new Error("Interrupted"); // no new load while stopping
  const before = cpuTicks(server.pid);
  const cpu0Before = cpuCoreTicks(SERVER_CPU);
  const child = track(
    bench,
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout((seconds + 15) * 1_000), // the tool stops itself; this catches a hang
    }).spawn(),
  );
  // The tool's schedstat vanishes with it, so the last reading before it exits stands for the run.
  let wrkSched = { run: 0, wait: 0 };
  const poll = setInterval(() => wrkSched = schedNs(child.pid) ?? wrkSched, 100);
  const out = await child.output();
  clearInterval(poll);
  const after = cpuTicks(server.pid);
  const user = after.user - before.user;
  const ticks = user + after.sys - before.sys;
  const cpu0After = cpuCoreTicks(SERVER_CPU);
  const figures = parse(decoder.decode(out.stdout), decoder.decode(out.stderr), out.success);
  return {
    ...figures,
    cpuUsPerRequest: (ticks / bench.clkTck) * 1e6 / figures.requests,
    userUsPerRequest: (user / bench.clkTck) * 1e6 / figures.requests,
    otherCpuPercent: otherCpuPercent(bench, server, cpu0Before, cpu0After, ticks),
    wrkWaitPercent: wrkSched.run ? wrkSched.wait / (wrkSched.run + wrkSched.wait) * 100 : NaN,
  };
}

/** One wrk run; the server's CPU ticks and CPU 0's are read from /proc before and after. */
export async function runWrk(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  seconds: number,
): Promise<Sample> {
  const argv = wrkArgs(bench, scenario, server.port, seconds);
  return await measureRun(bench, server, argv, seconds, (text, stderr, success) => {
    const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
    if (!success || requests === 0) {
      throw new Error(`wrk against ${server.label} completed no request:\n${text}${stderr}`);
    }
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
    return {
      requests,
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
      p50Ms: latencyMs(text, 50),
      p99Ms: latencyMs(text, 99),
      errors: non2xx + (socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0),
    };
  });
}

/** An extra run under `strace -c -f -p PID`: calls per request, in total and the top five. */
export async function straceRun(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  run: (seconds: number) => Promise<Sample>,
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
    sample = await run(Math.max(STRACE_MIN_SECONDS, bench.opts.duration));
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
