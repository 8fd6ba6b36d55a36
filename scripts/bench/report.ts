// The results: one row per server and scenario, printed as markdown tables with the machine and
// the noise gauges described, or as JSON.

import type { Bench } from "./context.ts";
import { LOAD_SCENARIOS, WARMUP_MAX_SECONDS, WARMUP_REQUESTS, WARMUP_SECONDS } from "./scenarios.ts";
import { commandOutput } from "./util.ts";
import { readOr } from "../measure.ts";

const NOISY_PERCENT = 10; // a noise gauge above this in any run: the machine was not quiet

/** One server in one load scenario: medians of its runs, and its CPU against each peer's. */
export interface LoadRow {
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
  /** Against the Deno floor (scripts/ref/floor.ts): what of the cost is rawserve's, not the runtime's. */
  vsDenoFloor: number | null;
  errors: number;
  otherCpuPercent: number;
  wrkWaitPercent: number;
  runs: number;
  syscallsPerRequest: number | null;
  topSyscalls: string | null;
}

/** One server's start-up times. */
export interface StartupRow {
  server: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  samples: number;
}

/** One server holding idle keep-alive connections. */
export interface IdleRow {
  server: string;
  connections: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  kibPerConnection: number;
  newRequestP50Ms: number;
  newRequestMaxMs: number;
  note: string;
}

/** Every row of a run. */
export interface Report {
  load: LoadRow[];
  startup: StartupRow[];
  idle: IdleRow[];
}

const numberFormats = new Map<string, Intl.NumberFormat>();
const RATIO_FORMAT = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** `x` with at most `digits` fraction (or significant) digits, "–" for null or NaN. */
export function formatNumber(x: number | null, digits: number, significant = false): string {
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
    ? `; medians of ${o.rounds} rotating ${o.duration} s runs${
      o.processes > 1 ? ` in each of ${o.processes} processes per server` : ""
    } after a warm-up of ${WARMUP_SECONDS} s or ${WARMUP_REQUESTS} requests (at most ${WARMUP_MAX_SECONDS} s more); ` +
      `CPU from /proc/PID/stat at ${bench.clkTck} ticks/s`
    : "";
  const h2load = LOAD_SCENARIOS.some((s) => s.h2load && o.only.includes(s.name))
    ? `, h2load ${/nghttp2\/(\S+)/.exec(commandOutput("h2load", ["--version"]))?.[1] ?? "not installed"}`
    : "";
  const date = new Date().toISOString().slice(0, 10);
  return `${date}, ${navigator.hardwareConcurrency} CPUs, ` +
    `Linux ${readOr("/proc/sys/kernel/osrelease").trim()}, Deno ${Deno.version.deno}, wrk ${wrk}${h2load}, ` +
    `nginx ${nginx}; ${bench.pin ? "servers on CPU 0, load generators on CPU 1" : "not pinned"}${load}`;
}

/** The worse of the two noise gauges of a row, in percent (NaN when neither was measured). */
function noisePercent(row: LoadRow): number {
  const gauges = [row.otherCpuPercent, row.wrkWaitPercent].filter((x) => !Number.isNaN(x));
  return gauges.length ? Math.max(...gauges) : NaN;
}

function loadTable(rows: LoadRow[]): string {
  const strace = rows.some((r) => r.syscallsPerRequest !== null);
  const denoFloor = rows.some((r) => r.vsDenoFloor !== null);
  const header = ["scenario", "server", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "user µs"];
  header.push("vs Deno.serve", "vs nginx", "vs floor");
  if (denoFloor) header.push("vs Deno floor");
  header.push("errors", "noise %");
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
      ...(denoFloor ? [ratio(r.vsDenoFloor)] : []),
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

/**
 * The page rows (h2-page, https-page) per page rather than per request: CPU µs/req times the
 * page's requests, so that h2 and HTTP/1.1 compare as a browser loads it.
 */
function pageNote(rows: LoadRow[]): string | null {
  const page = rows.filter((r) => LOAD_SCENARIOS.find((s) => s.name === r.scenario)?.h2load?.uris);
  if (!page.length) return null;
  const requests = LOAD_SCENARIOS.find((s) => s.name === page[0]!.scenario)!.h2load!.uris!.length;
  const each = page.map((r) => `${r.scenario} ${r.server} ${formatNumber(r.cpuUsPerRequest * requests, 0)}`);
  return `the page is ${requests} requests; server CPU µs per page load: ${each.join(", ")}`;
}

/** The report as markdown on stdout, with the run's notes and a warning when it was noisy. */
export function printMarkdown(bench: Bench, report: Report): void {
  const parts = [describeMachine(bench)];
  if (report.load.length) parts.push(loadTable(report.load));
  const traced = report.load.filter((r) => r.topSyscalls !== null);
  if (traced.length) {
    parts.push(traced.map((r) => `- ${r.scenario} ${r.server}: ${r.topSyscalls}`).join("\n"));
  }
  if (report.startup.length) parts.push(startupTable(report.startup));
  if (report.idle.length) parts.push(idleTable(report.idle));
  const page = pageNote(report.load);
  if (page) bench.notes.unshift(page);
  const noisy = report.load.filter((r) => noisePercent(r) > NOISY_PERCENT);
  if (noisy.length) {
    bench.notes.push(
      `noise % (the larger of: CPU 0 busy with work other than the server; the load generator waiting for CPU 1) ` +
        `reached ${formatNumber(Math.max(...noisy.map(noisePercent)), 0)}% in ${noisy.length} row(s): ` +
        `other processes competed with the benchmark; rerun those on an idle machine`,
    );
  }
  if (bench.notes.length) {
    parts.push(bench.notes.map((n) => `- ${n.trim().replaceAll("\n", "\n    ")}`).join("\n"));
  }
  console.log(parts.join("\n\n"));
}

/** The report as JSON on stdout, with the run's settings. */
export function printJson(bench: Bench, report: Report): void {
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
