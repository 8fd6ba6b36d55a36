// Compares the reactor's wait-strategy settings on the real server: macrotask turns after every
// batch or at most once per millisecond (--yield-interval), and spinning before blocking or not
// (--idle-spins). Server pinned to CPU 0, wrk to CPU 1, A B A B rounds, medians of server CPU
// per request from /proc/PID/stat. Usage: deno run -A scripts/wait_bench.ts [--rounds 3]

import { parseArgs } from "node:util";
import { cpuMs, median } from "./measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string" }, duration: { type: "string" } },
});
const ROUNDS = Number(values.rounds ?? 3);
const DURATION = Number(values.duration ?? 4);
const ROOT = new URL("..", import.meta.url).pathname;

interface Variant {
  name: string;
  flags: string[];
}

const SCENARIOS: { name: string; wrk: string[]; variants: Variant[] }[] = [
  {
    name: "50 keep-alive connections",
    wrk: ["-c50"],
    variants: [
      { name: "turn after every batch", flags: ["--yield-interval", "0"] },
      { name: "turn at most every 1 ms", flags: ["--yield-interval", "1"] },
    ],
  },
  {
    name: "1 keep-alive connection",
    wrk: ["-c1"],
    variants: [
      { name: "16 idle spins", flags: ["--idle-spins", "16"] },
      { name: "block at once", flags: ["--idle-spins", "0"] },
    ],
  },
];

async function startServer(
  flags: string[],
): Promise<{ pid: number; port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "--port", "0", "--quiet", ...flags],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // --quiet prints no URL: find the port from /proc/net/tcp by inode is overkill; ask ss.
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const out = new TextDecoder().decode(
      (await new Deno.Command("ss", { args: ["-ltnpH"], stdout: "piped" }).output()).stdout,
    );
    const line = out.split("\n").find((l) => l.includes(`pid=${child.pid},`));
    const port = line ? Number(/:(\d+)\s/.exec(line)?.[1]) : 0;
    if (port) return { pid: child.pid, port, child };
  }
  child.kill("SIGKILL");
  throw new Error(`rawserve ${flags.join(" ")} did not start listening within 5 s`);
}

async function runWrk(port: number, args: string[]): Promise<{ requests: number; rps: number }> {
  const out = await new Deno.Command("taskset", {
    args: ["-c", "1", "wrk", "-t1", `-d${DURATION}s`, ...args, `http://127.0.0.1:${port}/`],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return {
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
  };
}

const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
console.log(`| scenario | setting | req/s | server CPU µs/request (median of ${ROUNDS}) |`);
console.log("| --- | --- | ---: | ---: |");
for (const scenario of SCENARIOS) {
  const servers = await Promise.all(scenario.variants.map((v) => startServer(v.flags)));
  const cpu: number[][] = servers.map(() => []);
  const rps: number[][] = servers.map(() => []);
  try {
    for (const s of servers) await runWrk(s.port, ["-d1s", ...scenario.wrk]); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[i]!;
        const before = cpuMs(s.pid);
        const result = await runWrk(s.port, scenario.wrk);
        const ms = cpuMs(s.pid) - before;
        cpu[i]!.push(ms * 1_000 / Math.max(1, result.requests));
        rps[i]!.push(result.rps);
      }
    }
  } finally {
    for (const s of servers) {
      s.child.kill("SIGTERM");
      await s.child.status;
    }
  }
  scenario.variants.forEach((v, i) => {
    console.log(
      `| ${scenario.name} | ${v.name} | ${fmt.format(median(rps[i]!))} | ${fmt.format(median(cpu[i]!))} |`,
    );
  });
}
