// The benchmark's command line: its usage text and the parsed, checked options.

import { parseArgs } from "node:util";
import { SCENARIO_NAMES, SERVER_KINDS, type ServerKind } from "./scenarios.ts";

/** `names` comma-separated, in lines of at most `width` characters indented by `indent`. */
function wrapped(names: readonly string[], indent: number, width: number): string {
  const lines = [""];
  for (const name of names) {
    const last = lines.length - 1;
    if (lines[last]!.length + name.length + 2 > width - indent) lines.push("");
    lines[lines.length - 1] += `${lines[lines.length - 1] ? " " : ""}${name},`;
  }
  return lines.join(`\n${" ".repeat(indent)}`).slice(0, -1);
}

/** The --help text. */
export const USAGE = `Usage: deno run -A scripts/bench/main.ts [options]

  --only LIST            scenarios, comma-separated (default: all):
                         ${wrapped(SCENARIO_NAMES, 25, 72)}
                         h2-* and https-page need h2load (apt-get install -y nghttp2-client);
                         ws-* run npm's ws as the client (fetched once by Deno)
  --duration S           seconds per measured run (default 5; >= 3 keeps CPU/req accurate)
  --rounds N             runs per server, servers in rotation; medians reported (default 3)
  --processes N          load scenarios: start each server N times, each process warmed up and
                         measured for --rounds; the median is over all runs (default 1)
  --connections N        connections for every load scenario (default 50; static1m, h2-* 10,
                         https-page 6)
  --strace               one extra run per server under strace -c -f: syscalls per request
  --json                 JSON on stdout instead of markdown
  --workers N            rawserve --workers N (pinned to CPUs 0-1 when N > 1)
  --no-pin               do not pin servers and wrk with taskset
  --idle-connections N   connections held open by idle10k (default 10000)
  --idle-settle S        idle10k, ws-idle1k: seconds the server idles before each reading of
                         the settled rows (default 60; 0 leaves them out)
  --servers LIST         a subset of ${SERVER_KINDS.join(", ")}
  --baseline DIR         also run rawserve from the checkout in DIR (defaults and --quiet),
                         in the same rotation: before/after in one run
  --rawserve-flags="F"   extra flags for this checkout's rawserve only (not the baseline's),
                         e.g. --rawserve-flags="--metrics /metrics": a feature's cost against
                         DIR (the = is needed: the value begins with a dash)`;

/** The parsed command line. */
export interface Options {
  only: string[];
  duration: number;
  rounds: number;
  /**
   * Processes per server in a load scenario, one after another, each warmed up and measured for
   * `rounds`. One process of identical code can cost 7-30% more than another (2026-12-06), which
   * rotating rounds of the same processes cannot average away.
   */
  processes: number;
  connections: number | null;
  strace: boolean;
  json: boolean;
  workers: number;
  pin: boolean;
  idleConnections: number;
  /**
   * Seconds a server idles before the settled RSS readings of idle10k and ws-idle1k; 0: none. V8's
   * memory reducer shrinks the young generation a burst of connections grew, and frees pages,
   * only after the heap has been quiet for tens of seconds (seen 2026-12-06: 1,000 WebSockets
   * opened on a cold rawserve added 31 KiB of RSS each 1 s later and 4 KiB each at 50 s; Deno.serve
   * fell from 25 to 20 KiB in 40 s). Idle connections stay idle for minutes: the settled rows say
   * what they cost then, the others what a burst of them costs at once.
   */
  idleSettle: number;
  servers: ServerKind[];
  /** A checkout of rawserve to compare with (its main.ts), or null. */
  baseline: string | null;
  /** Extra flags for this checkout's rawserve (not the baseline's). */
  rawserveFlags: string[];
  child: boolean; // hidden: this process is the idle10k re-run under a raised open-file limit
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
}

/**
 * The command line checked; --help prints USAGE and exits.
 * @throws {Error} on an unknown scenario or server, or a count that is not a positive integer
 */
export function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      processes: { type: "string" },
      connections: { type: "string" },
      strace: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      workers: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      "idle-connections": { type: "string" },
      "idle-settle": { type: "string" },
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
    processes: positiveInt("processes", values.processes, 1),
    connections: values.connections === undefined ? null : positiveInt("connections", values.connections, 50),
    strace: values.strace,
    json: values.json,
    workers: positiveInt("workers", values.workers, 1),
    pin: !values["no-pin"],
    idleConnections: positiveInt("idle-connections", values["idle-connections"], 10_000),
    idleSettle: values["idle-settle"] === "0" ? 0 : positiveInt("idle-settle", values["idle-settle"], 60),
    servers: SERVER_KINDS.filter((k) => servers.includes(k)),
    baseline: values.baseline ?? null,
    rawserveFlags: values["rawserve-flags"]?.split(/\s+/).filter(Boolean) ?? [],
    child: values.child,
  };
}
