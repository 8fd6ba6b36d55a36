// The idle10k scenario: many keep-alive connections held open per server, its RSS before and
// after, and how fast a new connection is answered meanwhile. Re-runs itself under a raised
// open-file limit when this process's is too low.

import { type Bench, fail, track } from "./context.ts";
import { startServer } from "./processes.ts";
import type { IdleRow } from "./report.ts";
import {
  IDLE_FD_MARGIN,
  IDLE_KEEPALIVE_S,
  LOAD_SCENARIOS,
  PROCESS_KINDS,
  SERVER_LABELS,
  type ServerKind,
} from "./scenarios.ts";
import { decoder, encoder, errorText, progress, sleep, within } from "./util.ts";
import { runWrk } from "./wrk.ts";
import { median, readOr, rssKiB } from "../measure.ts";

const IDLE_BUDGET_MS = 60_000; // opening the connections, all servers together (an even share each)
const IDLE_BATCH = 250; // connections opened concurrently; well under every server's listen backlog

function openFileLimit(): number {
  const line = readOr("/proc/self/limits").split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

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
  budgetMs: number,
  count: number,
): Promise<IdleRow[]> {
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
    await sleep(bench.opts.idleSettle > 0 ? bench.opts.idleSettle * 1000 : 500);
    const rssBefore = rssKiB(server.pid);
    const stopped = await openIdle(server.port, count, Date.now() + budgetMs, conns);
    await sleep(1_000); // let the server finish its bookkeeping before reading RSS
    const rssAfter = rssKiB(server.pid);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) latencies.push(await newRequestMs(server.port));
    const held = stopped ? "" : await sampleHeld(conns);
    const row = (label: string, rss: number): IdleRow => ({
      server: label,
      connections: conns.length,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rss,
      kibPerConnection: conns.length ? (rss - rssBefore) / conns.length : NaN,
      newRequestP50Ms: median(latencies),
      newRequestMaxMs: Math.max(...latencies),
      note: [stopped, held].filter(Boolean).join("; "),
    });
    if (bench.opts.idleSettle === 0) return [row(server.label, rssAfter)];
    await sleep(bench.opts.idleSettle * 1000);
    const settled = rssKiB(server.pid);
    return [
      row(`${server.label}, 1 s after`, rssAfter),
      row(`${server.label}, ${bench.opts.idleSettle} s idle`, settled),
    ];
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

/** The settling waits of idle10k for `servers` servers: two each (before and after). */
function settlingMs(bench: Bench, servers: number): number {
  return 2 * bench.opts.idleSettle * 1000 * servers;
}

async function runIdleHere(bench: Bench, count: number, note: string): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  const kinds = bench.opts.servers.filter((k) => PROCESS_KINDS.includes(k) && (k !== "nginx" || bench.nginx));
  for (const kind of kinds) {
    progress(`idle10k: ${count} keep-alive connections to ${SERVER_LABELS[kind]}`);
    try {
      for (const row of await idleForServer(bench, kind, IDLE_BUDGET_MS / kinds.length, count)) {
        if (note) row.note = [note, row.note].filter(Boolean).join("; ");
        rows.push(row);
      }
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
export async function runIdle(bench: Bench): Promise<IdleRow[]> {
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
  args.push("--idle-settle", String(o.idleSettle));
  if (!o.pin) args.push("--no-pin");
  // The child starts the same servers: the baseline's checkout and our extra flags go with it.
  if (o.baseline !== null) args.push("--baseline", o.baseline);
  if (o.rawserveFlags.length) args.push(`--rawserve-flags=${o.rawserveFlags.join(" ")}`);
  const script = decodeURIComponent(new URL("./main.ts", import.meta.url).pathname);
  const shell = 'ulimit -n "$1" || exit 99; shift; exec "$@"';
  const out = await track(
    bench,
    new Deno.Command("bash", {
      args: ["-c", shell, "bash", String(limit), Deno.execPath(), "run", "-A", script, ...args],
      stdout: "piped",
      stderr: "inherit",
      signal: AbortSignal.timeout(IDLE_BUDGET_MS + 60_000 + settlingMs(bench, o.servers.length)),
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
