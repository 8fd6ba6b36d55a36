// The WebSocket scenarios: ws-echo64 and ws-deflate4k run ws_load.ts (npm's ws) pinned to CPU 1
// against the echo of ws_server.ts, the server's CPU per message echoed read around it; ws-idle1k
// holds 1,000 idle WebSockets per server (Deno's own client, in this process) and reads its RSS
// before and after (1 s after opening them, and again once the server has idled a minute), with a
// new socket's echo timed meanwhile.

import { type Bench, fail, type Server } from "./context.ts";
import { startServer } from "./processes.ts";
import type { IdleRow } from "./report.ts";
import { type LoadScenario, SERVER_LABELS, type ServerKind, WS_IDLE_SCENARIO } from "./scenarios.ts";
import { errorText, progress, sleep, within } from "./util.ts";
import { measureRun, type Sample } from "./wrk.ts";
import { median, rssKiB } from "../measure.ts";

const WS_IDLE_CONNECTIONS = 1_000; // the issue's figure
/**
 * Opened and closed first, as many as are measured: the JIT's code, the binary's code pages, the
 * allocator's arenas and V8's young generation grow to what this load asks once, and not again for
 * the next thousand (measured 2026-12-06: a cold server's first 1,000 sockets add ~24 MiB of RSS,
 * of which ~3 MiB are the deno binary's pages first touched and ~11 MiB two malloc arenas of
 * V8's compiler threads; the next 1,000 add what each socket holds).
 */
const WS_IDLE_WARM = WS_IDLE_CONNECTIONS;
/** Sockets opened at once, in the warm-up and the measured round alike. */
const WS_IDLE_BATCH = 100;
const WS_IDLE_BUDGET_MS = 30_000; // per server and thousand opened
/**
 * The server's environment for the row that shows what a socket holds. V8 sizes its young
 * generation by the bytes that survive its scavenges, so a burst of sockets grows it, whoever's
 * objects they are, up to ~32 MiB, and it shrinks at the first collection after a quiet minute
 * (measured 2026-12-06 with Deno.memoryUsage() in the server: heapTotal rose by ~10 MiB for each
 * of the first four thousand rawserve sockets while heapUsed rose by ~4). Where that growth stops
 * varies from run to run (the thousands from 6,001 to 10,000 read 2.3-8.2 KiB a socket), so the
 * first rows mix it in; held at 1 MiB for both servers, what each socket keeps is what is left.
 */
const HELD_YOUNG_GENERATION = { DENO_V8_FLAGS: "--max-semi-space-size=1" };
const ECHO_TIMEOUT_MS = 5_000;
const WS_ENV = "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE"; // npm's ws reads these at load

/** Negotiated extensions per scenario and server, reported once in the notes. */
const noted = new Set<string>();
/**
 * Per scenario and server, the fewest and most messages one connection had echoed in a round (the
 * widest spread of the rounds), and where its line is in the notes: a server, or a client, that
 * serves some connections and starves others shows here before it shows in p99.
 */
const spreads = new Map<string, { min: number; max: number; note: number }>();

/** Notes the round's echoes per connection, keeping the widest spread (by ratio) of the rounds. */
function noteSpread(bench: Bench, key: string, min: number, max: number): void {
  const known = spreads.get(key);
  if (known !== undefined && known.max / Math.max(1, known.min) >= max / Math.max(1, min)) return;
  const note = known?.note ?? bench.notes.length;
  spreads.set(key, { min, max, note });
  const ratio = (max / Math.max(1, min)).toFixed(2);
  bench.notes[note] = `${key}: messages echoed per connection ${min.toLocaleString("en-US")}-${
    max.toLocaleString("en-US")
  } (${ratio}×, the widest measured round)`;
}

/** One run of ws_load.ts against `server`: messages echoed stand for requests. */
export async function runWsLoad(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  seconds: number,
): Promise<Sample> {
  const script = `${bench.repo}/scripts/bench/ws_load.ts`;
  const connections = bench.opts.connections ?? scenario.connections;
  const args = [
    Deno.execPath(),
    "run",
    "--allow-net=127.0.0.1",
    WS_ENV,
    script,
    "--port",
    String(server.port),
  ];
  args.push("--seconds", String(seconds), "--connections", String(connections));
  args.push("--bytes", String(scenario.ws!.bytes));
  if (scenario.ws!.deflate) args.push("--deflate");
  const argv = bench.pin ? ["taskset", "-c", "1", ...args] : args;
  return await measureRun(bench, server, argv, seconds + 15, (text, stderr, success) => {
    let out: {
      messages: number;
      seconds: number;
      p50Ms: number;
      p99Ms: number;
      errors: number;
      extensions: string;
      minPerConnection: number;
      maxPerConnection: number;
    };
    try {
      out = JSON.parse(text.trim().split("\n").at(-1) ?? "");
    } catch {
      throw new Error(`ws_load.ts against ${server.label} printed no result:\n${text}${stderr}`);
    }
    if (!success || !out.messages) {
      throw new Error(`ws_load.ts against ${server.label} echoed nothing:\n${stderr}`);
    }
    const key = `${scenario.name} ${server.label}`;
    // Measured rounds only: a warm-up's shorter run spreads wider by chance.
    if (seconds === bench.opts.duration) noteSpread(bench, key, out.minPerConnection, out.maxPerConnection);
    if (scenario.ws!.deflate && !noted.has(key)) {
      noted.add(key);
      bench.notes.push(
        `${key}: permessage-deflate ${
          out.extensions
            ? `negotiated (${out.extensions})`
            : "not offered by the server: messages sent uncompressed"
        }`,
      );
    }
    return {
      requests: out.messages,
      rps: out.messages / out.seconds,
      p50Ms: out.p50Ms,
      p99Ms: out.p99Ms,
      errors: out.errors,
    };
  });
}

/** Opens a WebSocket and waits for one message echoed; resolves with it open. */
function openEchoed(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const timer = setTimeout(() => (ws.close(), reject(new Error("no echo in time"))), ECHO_TIMEOUT_MS);
    ws.onopen = () => ws.send("hello");
    ws.onmessage = () => (clearTimeout(timer), resolve(ws));
    ws.onerror = () => (clearTimeout(timer), reject(new Error("WebSocket failed")));
  });
}

/** WS_IDLE_BATCH sockets opened at once, each echoed. */
function openBatch(port: number): Promise<WebSocket[]> {
  return Promise.all(Array.from({ length: WS_IDLE_BATCH }, () => openEchoed(port)));
}

/** Opens `count` WebSockets, WS_IDLE_BATCH at a time, each echoed, into `into`. */
async function openMany(port: number, count: number, into: WebSocket[]): Promise<void> {
  for (let i = 0; i < count; i += WS_IDLE_BATCH) into.push(...await openBatch(port));
}

/**
 * One server's ws-idle1k rows; `held`: the young generation held at 1 MiB (HELD_YOUNG_GENERATION),
 * one row 1 s after opening, no minute idle (nothing is left to give back).
 */
async function wsIdleFor(bench: Bench, kind: ServerKind, held: boolean): Promise<IdleRow[]> {
  const server = await startServer(bench, kind, WS_IDLE_SCENARIO, [], held ? HELD_YOUNG_GENERATION : {});
  const settleMs = held ? 0 : bench.opts.idleSettle * 1000;
  const sockets: WebSocket[] = [];
  try {
    const warm: WebSocket[] = [];
    await openMany(server.port, WS_IDLE_WARM, warm);
    for (const ws of warm) ws.close();
    await sleep(settleMs > 0 ? settleMs : 1_000);
    const rssBefore = rssKiB(server.pid);
    const opening = openMany(server.port, WS_IDLE_CONNECTIONS, sockets);
    const note = await within(opening.then(() => ""), WS_IDLE_BUDGET_MS, "stopped by the time budget");
    await sleep(1_000); // the server's bookkeeping settles before RSS is read
    const rssSoon = rssKiB(server.pid);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      (await openEchoed(server.port)).close();
      latencies.push(performance.now() - t0);
    }
    const row = (label: string, rssAfter: number): IdleRow => ({
      server: `${server.label}, WebSocket${label && `, ${label}`}`,
      connections: sockets.length,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rssAfter,
      kibPerConnection: sockets.length ? (rssAfter - rssBefore) / sockets.length : NaN,
      newRequestP50Ms: median(latencies),
      newRequestMaxMs: Math.max(...latencies),
      note,
    });
    const rows = [row(held ? "young generation held at 1 MiB" : settleMs === 0 ? "" : "1 s after", rssSoon)];
    if (settleMs > 0) {
      await sleep(settleMs);
      rows.push(row(`${bench.opts.idleSettle} s idle`, rssKiB(server.pid)));
    }
    return rows;
  } finally {
    for (const ws of sockets) ws.close();
    await server.stop();
  }
}

/** ws-idle1k: 1,000 idle WebSockets (one message each way) per server; RSS per socket. */
export async function runWsIdle(bench: Bench): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  for (const kind of bench.opts.servers.filter((k) => k === "rawserve" || k === "deno")) {
    progress(`ws-idle1k: ${WS_IDLE_CONNECTIONS} idle WebSockets to ${SERVER_LABELS[kind]}`);
    try {
      rows.push(...await wsIdleFor(bench, kind, false), ...await wsIdleFor(bench, kind, true));
    } catch (e) {
      fail(bench, `ws-idle1k: ${errorText(e)}`);
    }
  }
  return rows;
}
