// End-to-end: known HTTP/2 attacks made frame by frame by Python's h2 (tests/e2e/h2_attacks.py,
// Debian's python3-h2) against the real CLI over h2c: rapid reset (CVE-2023-44487) and a
// CONTINUATION flood (CVE-2024-27316 class) end in GOAWAY ENHANCE_YOUR_CALM, streams past
// SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM. Meanwhile a second client
// (node:http2) keeps being answered quickly, and the server's RSS stays within a few MiB.

import assert from "node:assert/strict";
import http2 from "node:http2";
import { startServer } from "./_server.ts";
import { request } from "./_h2.ts";
import { rssKiB } from "../../scripts/measure.ts";
import { MAX_CONCURRENT_STREAMS } from "../../http/h2/session.ts";
import { H2_ERROR } from "../../http/h2/frames.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./h2_attacks.py", import.meta.url).pathname;
/** The second client's slowest answer while an attack runs (a shared 2-CPU machine: generous). */
const MAX_ANSWER_MS = 500;
/**
 * RSS growth allowed over a whole attack, every round included, after WARM_ROUNDS. Measured
 * here: +3.3 MiB over 30 rounds of rapid reset, +6.4 over 30 of too_many_streams; over 300 rounds
 * RSS rises by ~8 MiB while the JS heap after a full GC stays within 0.12 MiB of where it began
 * (pages V8 and malloc keep, not objects kept), so the bound is on what an attack can make the
 * process hold, not on a leak, which would show as growth per round.
 */
const MAX_GROWTH_MIB = 8;
/** Rounds of the attack before the baseline is taken. */
const WARM_ROUNDS = 10;
/** The second client's pause between requests: it asks steadily rather than flooding. */
const BYSTANDER_PAUSE_MS = 2;

/** Why the attacks cannot run here, or null. */
const SKIP = (() => {
  try {
    const out = new Deno.Command(PYTHON, { args: ["-c", "import h2, hyperframe"], stderr: "null" })
      .outputSync();
    return out.success ? null : "no python3-h2; apt-get install -y python3-h2";
  } catch {
    return "no /usr/bin/python3";
  }
})();

interface Round {
  goaway: number | null;
  resets: Record<string, number>;
  responses: number;
}

/**
 * Runs `rounds` connections of `attack` while a node:http2 client asks for `/` again and again,
 * and samples the server's RSS.
 * @returns what each round got, the second client's answer times, and the peak RSS growth in MiB
 */
async function underAttack(attack: string, rounds: number) {
  const dir = await Deno.makeTempDir({ prefix: "rawserve-h2-attack-" });
  await Deno.writeTextFile(`${dir}/index.html`, "calm\n");
  await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(300_000).map((_, i) => i));
  const server = await startServer(["--quiet", dir]);
  let bystander: http2.ClientHttp2Session | null = null;
  try {
    const attackOnce = (n: number) =>
      new Deno.Command(PYTHON, {
        args: [SCRIPT, String(server.port), attack, String(n)],
        stderr: "inherit",
        signal: AbortSignal.timeout(60_000),
      }).output();
    // Warm up: the first rounds' allocations (JIT, the heap's working size) are not growth per
    // attack. The second client connects after it (an idle connection would time out meanwhile).
    await attackOnce(WARM_ROUNDS);
    bystander = http2.connect(`http://127.0.0.1:${server.port}`);
    for (let i = 0; i < 20; i++) await request(bystander, { ":path": "/" });
    const base = rssKiB(server.pid);
    let peak = base;
    const sampler = setInterval(() => peak = Math.max(peak, rssKiB(server.pid)), 10);
    const times: number[] = [];
    let running = true;
    const attacked = attackOnce(rounds).finally(() => running = false);
    while (running) {
      const start = performance.now();
      const answer = await request(bystander, { ":path": "/" });
      times.push(performance.now() - start);
      assert.equal(new TextDecoder().decode(answer.body), "calm\n");
      await new Promise((resolve) => setTimeout(resolve, BYSTANDER_PAUSE_MS));
    }
    const out = await attacked;
    clearInterval(sampler);
    peak = Math.max(peak, rssKiB(server.pid));
    assert.ok(out.success, `${attack}: the Python client failed`);
    const results = JSON.parse(new TextDecoder().decode(out.stdout)) as Round[];
    times.sort((a, b) => a - b);
    return { results, times, growthMiB: (peak - base) / 1024 };
  } finally {
    bystander?.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The bystander's figures, for the assertion messages. */
function describe(times: number[]): string {
  const median = times[times.length >> 1] ?? NaN;
  return `${times.length} answers, median ${median.toFixed(2)} ms, max ${
    (times.at(-1) ?? NaN).toFixed(1)
  } ms`;
}

function attackTest(
  name: string,
  attack: string,
  rounds: number,
  check: (round: Round) => void,
): void {
  Deno.test({
    name: SKIP ? `${name} (skipped: ${SKIP})` : name,
    ignore: SKIP !== null,
    async fn() {
      const { results, times, growthMiB } = await underAttack(attack, rounds);
      assert.equal(results.length, rounds);
      results.forEach(check);
      assert.ok(times.length > 0, "the second client was answered during the attack");
      assert.ok(times.at(-1)! < MAX_ANSWER_MS, `the second client waited too long: ${describe(times)}`);
      assert.ok(growthMiB < MAX_GROWTH_MIB, `RSS grew ${growthMiB.toFixed(1)} MiB (${describe(times)})`);
    },
  });
}

attackTest(
  "h2 rapid reset (CVE-2023-44487): 30 connections each opening and cancelling 2,000 streams get GOAWAY ENHANCE_YOUR_CALM",
  "rapid_reset",
  30,
  (round) => assert.equal(round.goaway, H2_ERROR.ENHANCE_YOUR_CALM),
);

attackTest(
  "h2 CONTINUATION flood: 100 header blocks of 10,000 empty CONTINUATION frames each get GOAWAY ENHANCE_YOUR_CALM",
  "continuation_flood",
  100,
  (round) => {
    assert.equal(round.goaway, H2_ERROR.ENHANCE_YOUR_CALM);
    assert.equal(round.responses, 0, "no request came of it");
  },
);

attackTest(
  "h2 150 streams at once with the window shut: 100 are served, 50 refused with REFUSED_STREAM, 20 times over",
  "too_many_streams",
  20,
  (round) => {
    assert.equal(round.responses, MAX_CONCURRENT_STREAMS);
    assert.deepEqual(round.resets, { [H2_ERROR.REFUSED_STREAM]: 150 - MAX_CONCURRENT_STREAMS });
    assert.equal(round.goaway, null, "refusing streams is no connection error");
  },
);
