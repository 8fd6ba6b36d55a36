// The bench's two floors, started as the bench starts them: the Deno floor (scripts/ref/floor.ts)
// answers every scenario it takes part in with the C floor's bytes (or, for the 1 MiB file, its
// head and the file; for an application, its answer to the load generator's request), pipelined
// requests included, and passes the bench's own answer check.

import { equal, ok } from "node:assert/strict";
import { checkBody, expectedBody } from "../../../scripts/bench/answers.ts";
import type { Bench } from "../../../scripts/bench/context.ts";
import { buildFloor, writeAppFloorAnswer, writeFixtures } from "../../../scripts/bench/fixtures.ts";
import { parseOptions } from "../../../scripts/bench/options.ts";
import { startServer, takesPart } from "../../../scripts/bench/processes.ts";
import { LOAD_SCENARIOS, type LoadScenario, type ServerKind } from "../../../scripts/bench/scenarios.ts";
import { EMBEDDED_PAGE } from "../../../app/site/embedded_page.ts";

const REPO = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");
const PIPELINED = 2; // requests written at once: two answers in one send, or two heads and files
const READ_TIMEOUT_MS = 5_000;

function makeBench(): Bench {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-floors-test-" });
  const { site, lua } = writeFixtures(dir, EMBEDDED_PAGE, REPO);
  return {
    opts: parseOptions(["--servers", "floor,deno-floor", "--no-pin"]),
    repo: REPO,
    dir,
    site,
    lua,
    page: EMBEDDED_PAGE,
    pin: false,
    clkTck: 100,
    nginx: false,
    h2load: false,
    floor: buildFloor(REPO, dir),
    tls: null,
    live: new Set(),
    tools: new Set(),
    notes: [],
    failures: 0,
    interrupted: false,
  };
}

/** The bytes one answer must be: the floor's response file, or the 1 MiB file's head and the file. */
function expectedAnswer(bench: Bench, scenario: LoadScenario): Uint8Array {
  if (scenario.name !== "static1m") return Deno.readFileSync(`${bench.dir}/floor-${scenario.name}.bin`);
  const head = Deno.readFileSync(`${bench.dir}/floor-static1m.head`);
  const body = Deno.readFileSync(`${bench.site}/${scenario.file}`);
  const all = new Uint8Array(head.length + body.length);
  all.set(head);
  all.set(body, head.length);
  return all;
}

/** Writes PIPELINED requests at once and reads exactly `length` bytes back (or what came before EOF). */
async function pipelinedAnswers(port: number, scenario: LoadScenario, length: number): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), READ_TIMEOUT_MS);
  try {
    const extra = scenario.headers.map((h) => `${h}\r\n`).join("");
    const request = `GET ${scenario.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
    await conn.write(new TextEncoder().encode(request.repeat(PIPELINED)));
    const got = new Uint8Array(length);
    let filled = 0;
    for (const chunk = new Uint8Array(1 << 16); filled < length;) {
      const n = await conn.read(chunk);
      if (n === null) break;
      got.set(chunk.subarray(0, Math.min(n, length - filled)), filled);
      filled += n;
    }
    return got.subarray(0, Math.min(filled, length));
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or the peer
    }
  }
}

Deno.test("the bench's Deno floor answers each of its scenarios with the C floor's bytes", async () => {
  const bench = makeBench();
  try {
    const scenarios = LOAD_SCENARIOS.filter((s) => takesPart(bench, "deno-floor", s));
    const names = scenarios.map((s) => s.name);
    for (const name of ["embedded", "pipelined16", "static13", "static1m", "app-hello", "app-json"]) {
      ok(names.includes(name), name);
    }
    for (const scenario of scenarios) {
      if (scenario.app) await writeAppFloorAnswer(bench, scenario);
      const kinds: ServerKind[] = ["deno-floor"];
      if (bench.floor !== null && takesPart(bench, "floor", scenario)) kinds.push("floor");
      const one = expectedAnswer(bench, scenario);
      const want = new Uint8Array(one.length * PIPELINED).map((_, i) => one[i % one.length]!);
      for (const kind of kinds) {
        const server = await startServer(bench, kind, scenario);
        try {
          await checkBody(bench, server, scenario, await expectedBody(bench, scenario));
          const got = await pipelinedAnswers(server.port, scenario, want.length);
          equal(got.length, want.length, `${kind} ${scenario.name}: bytes answered`);
          ok(got.every((b, i) => b === want[i]), `${kind} ${scenario.name}: the answer's bytes`);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    Deno.removeSync(bench.dir, { recursive: true });
  }
});
