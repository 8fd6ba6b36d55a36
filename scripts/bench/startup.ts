// The startup scenario: milliseconds from spawn to the first 200, a few starts per server.

import { type Bench, fail } from "./context.ts";
import { launch, READY_TIMEOUT_MS } from "./processes.ts";
import type { StartupRow } from "./report.ts";
import { LOAD_SCENARIOS, PROCESS_KINDS, SERVER_LABELS, type ServerKind } from "./scenarios.ts";
import { errorText, freePort, progress, sleep } from "./util.ts";
import { median } from "../measure.ts";

const STARTUP_SAMPLES = 5;
const STARTUP_POLL_MS = 5;

/** Milliseconds from spawn to the first 200 on GET /, polling with fetch every 5 ms. */
async function timeStartup(bench: Bench, kind: ServerKind): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const server = launch(bench, kind, { scenario: LOAD_SCENARIOS[0]!, port, extra: [] });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && !server.exited) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await sleep(STARTUP_POLL_MS);
    }
    const why = server.exited ? "exited" : `did not answer within ${READY_TIMEOUT_MS / 1000} s`;
    throw new Error(
      `${server.label} (port ${port}) ${why} before its first 200; its stderr:\n` +
        (server.stderrText().trim() || "(empty)"),
    );
  } finally {
    await server.stop();
  }
}

/** The startup scenario: an untimed start to warm caches, then STARTUP_SAMPLES timed ones per server. */
export async function runStartup(bench: Bench): Promise<StartupRow[]> {
  const rows: StartupRow[] = [];
  for (const kind of bench.opts.servers.filter((k) => PROCESS_KINDS.includes(k))) {
    if (kind === "nginx" && !bench.nginx) continue;
    progress(`startup: ${SERVER_LABELS[kind]}`);
    try {
      await timeStartup(bench, kind); // untimed: fills Deno's module cache and the page cache
      const times: number[] = [];
      for (let i = 0; i < STARTUP_SAMPLES; i++) times.push(await timeStartup(bench, kind));
      rows.push({
        server: SERVER_LABELS[kind],
        medianMs: median(times),
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        samples: times.length,
      });
    } catch (e) {
      fail(bench, `startup: ${errorText(e)}`);
    }
  }
  return rows;
}
