// `deno task bench`: rawserve against Deno.serve and nginx on the same bytes. Servers pinned to
// CPU 0 and wrk to CPU 1 (when taskset exists), a warm-up, then A B A B rounds; medians of
// requests/s, latency and server CPU per request (utime+stime of all threads and children from
// /proc/PID/stat). Prints a markdown table, or JSON with --json.
//
// Usage: deno run -A scripts/bench.ts [--only embedded,static13] [--rounds 3] [--duration 5]
//          [--workers N] [--no-pin] [--strace] [--json]

import { parseArgs } from "node:util";
import { EMBEDDED_PAGE } from "../http/embedded_page.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    rounds: { type: "string" },
    duration: { type: "string" },
    workers: { type: "string" },
    "no-pin": { type: "boolean" },
    strace: { type: "boolean" },
    json: { type: "boolean" },
    "idle-connections": { type: "string" },
  },
});
const ROUNDS = Number(flags.rounds ?? 3);
const DURATION = Number(flags.duration ?? 5);
const WORKERS = flags.workers ?? "1";
const IDLE_CONNECTIONS = Number(flags["idle-connections"] ?? 10_000);
const ROOT = new URL("..", import.meta.url).pathname;
const TICKS_PER_SECOND = 100; // CLK_TCK on Linux x86-64
const decoder = new TextDecoder();

function which(program: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" }).outputSync()
    .success;
}

if (!which("wrk")) {
  console.error(
    "bench: wrk is not installed. Install the load tools with:\n  apt-get install -y wrk nginx-light",
  );
  Deno.exit(1);
}
const HAVE_NGINX = which("nginx");
if (!HAVE_NGINX) {
  console.error("bench: nginx not found; its rows are skipped (apt-get install -y nginx-light)");
}
const PIN = !flags["no-pin"] && which("taskset");
const log = (line: string) => {
  if (!flags.json) console.error(line);
};

// ---- fixtures -------------------------------------------------------------------------------

const DIR = Deno.makeTempDirSync({ prefix: "rawserve-bench-" });
const SITE = `${DIR}/site`;
Deno.mkdirSync(SITE);
Deno.writeFileSync(`${SITE}/index.html`, EMBEDDED_PAGE);
Deno.writeTextFileSync(`${SITE}/small.txt`, "Hello, world\n"); // 13 bytes
Deno.writeFileSync(`${SITE}/big.bin`, crypto.getRandomValues(new Uint8Array(65536)).map((b, i) => b ^ i));
{
  const block = Deno.readFileSync(`${SITE}/big.bin`);
  const big = new Uint8Array(1024 * 1024);
  for (let off = 0; off < big.length; off += block.length) big.set(block, off);
  Deno.writeFileSync(`${SITE}/big.bin`, big); // 1 MiB
}
Deno.writeTextFileSync(
  `${DIR}/pipeline16.lua`,
  `init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
`,
);

// ---- servers --------------------------------------------------------------------------------

interface Running {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function pinned(cpu: string, command: string[]): string[] {
  return PIN ? ["taskset", "-c", cpu, ...command] : command;
}

/** Spawns a server and waits for `http://...:PORT/` on its stdout (or for the port to answer). */
async function spawn(name: string, command: string[], knownPort?: number): Promise<Running> {
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // gone
    }
    await child.status;
  };
  const errors: string[] = [];
  (async () => {
    for await (const c of child.stderr) errors.push(decoder.decode(c));
  })();
  let port = knownPort ?? 0;
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 10_000;
  let text = "";
  while (!port && Date.now() < deadline) {
    const { value, done } = await Promise.race([
      reader.read(),
      new Promise<{ value: undefined; done: true }>((r) =>
        setTimeout(() => r({ value: undefined, done: true }), 200)
      ),
    ]);
    if (value) text += decoder.decode(value);
    port = Number(/http:\/\/[^\s]*:(\d+)\//.exec(text)?.[1] ?? 0);
    if (done && value === undefined && (await Promise.race([child.status, null]))) break;
  }
  (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      // closed
    }
  })();
  if (knownPort) {
    for (let i = 0; i < 200; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: knownPort })).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }
  if (!port) {
    await stop();
    throw new Error(`${name} did not start within 10 s: ${errors.join("").trim()}`);
  }
  return { name, pid: child.pid, port, stop };
}

function rawserve(root: boolean): Promise<Running> {
  const args = ["--port", "0", "--quiet", "--workers", WORKERS, ...(root ? ["--root", SITE] : [])];
  const cpu = WORKERS === "1" ? "0" : "0-1";
  return spawn("rawserve", pinned(cpu, [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, ...args]));
}

function denoServe(root: boolean): Promise<Running> {
  const args = ["--port", "0", ...(root ? ["--root", SITE] : [])];
  return spawn(
    "Deno.serve",
    pinned("0", [Deno.execPath(), "run", "-A", `${ROOT}scripts/deno_serve_ref.ts`, ...args]),
  );
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function nginx(): Promise<Running> {
  const port = freePort();
  const conf = `${DIR}/nginx.conf`;
  Deno.writeTextFileSync(
    conf,
    `worker_processes 1;
daemon off;
master_process off;
error_log ${DIR}/nginx-error.log;
pid ${DIR}/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 10000000;
  types { text/html html; text/plain txt; application/octet-stream bin; }
  server { listen 127.0.0.1:${port} backlog=4096; root ${SITE}; }
}
`,
  );
  return spawn("nginx", pinned("0", ["nginx", "-c", conf, "-p", DIR]), port);
}

// ---- measurement ----------------------------------------------------------------------------

/** utime+stime of a process, its threads and (for --workers) its children, in ticks. */
function cpuTicks(pid: number): number {
  let ticks = 0;
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    ticks = Number(fields[11]) + Number(fields[12]);
    const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    for (const child of children ? children.split(/\s+/) : []) ticks += cpuTicks(Number(child));
  } catch {
    // exited meanwhile
  }
  return ticks;
}

function latencyMs(text: string, percentile: string): number {
  const m = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(text);
  if (!m) return NaN;
  return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  requests: number;
}

async function wrk(server: Running, path: string, args: string[], seconds: number): Promise<Sample> {
  const before = cpuTicks(server.pid);
  const out = await new Deno.Command(PIN ? "taskset" : "wrk", {
    args: [
      ...(PIN ? ["-c", "1", "wrk"] : []),
      "-t1",
      `-d${seconds}s`,
      "--latency",
      ...args,
      `http://127.0.0.1:${server.port}${path}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ticks = cpuTicks(server.pid) - before;
  const text = decoder.decode(out.stdout);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  if (!requests) throw new Error(`wrk against ${server.name} failed: ${text}${decoder.decode(out.stderr)}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    p50: latencyMs(text, "50"),
    p99: latencyMs(text, "99"),
    cpuUs: (ticks / TICKS_PER_SECOND) * 1e6 / requests,
    requests,
  };
}

/** One extra run under `strace -c -f`: system calls per request, in total and by name. */
async function syscallsPerRequest(server: Running, path: string, args: string[]): Promise<string> {
  const file = `${DIR}/strace-${server.name}.txt`;
  const strace = new Deno.Command("strace", {
    args: ["-c", "-f", "-p", String(server.pid), "-o", file],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 500));
  const sample = await wrk(server, path, args, 3);
  strace.kill("SIGINT");
  await strace.status;
  const counts = new Map<string, number>();
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
    if (m && m[2] !== "total") counts.set(m[2]!, Number(m[1]));
  }
  const per = (n: number) => (n / sample.requests).toFixed(2);
  const total = [...counts].filter(([name]) => name !== "futex").reduce((a, [, n]) => a + n, 0);
  const main = [...counts].filter(([, n]) => n / sample.requests >= 0.01 && n > 10).sort((a, b) =>
    b[1] - a[1]
  );
  return `${per(total)} (${main.map(([name, n]) => `${name} ${per(n)}`).join(", ")})`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- scenarios ------------------------------------------------------------------------------

interface Row {
  scenario: string;
  server: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  vsDeno?: number;
  vsNginx?: number;
  syscallsPerRequest?: string;
  note?: string;
}

interface Scenario {
  name: string;
  path: string;
  root: boolean;
  wrk: string[];
  servers: ("rawserve" | "Deno.serve" | "nginx")[];
}

const SCENARIOS: Scenario[] = [
  { name: "embedded", path: "/", root: false, wrk: ["-c50"], servers: ["rawserve", "Deno.serve", "nginx"] },
  {
    name: "pipelined16",
    path: "/",
    root: false,
    wrk: ["-c50", "-s", `${DIR}/pipeline16.lua`],
    servers: ["rawserve", "Deno.serve", "nginx"],
  },
  {
    name: "static13",
    path: "/small.txt",
    root: true,
    wrk: ["-c50"],
    servers: ["rawserve", "Deno.serve", "nginx"],
  },
  {
    name: "static1m",
    path: "/big.bin",
    root: true,
    wrk: ["-c10"],
    servers: ["rawserve", "Deno.serve", "nginx"],
  },
  {
    name: "close",
    path: "/",
    root: false,
    wrk: ["-c50", "-H", "Connection: close"],
    servers: ["rawserve", "Deno.serve", "nginx"],
  },
];

const only = flags.only?.split(",");
const rows: Row[] = [];
const cleanups: (() => Promise<void>)[] = [];
Deno.addSignalListener("SIGINT", async () => {
  for (const c of cleanups) await c();
  Deno.removeSync(DIR, { recursive: true });
  Deno.exit(130);
});

try {
  for (const scenario of SCENARIOS) {
    if (only && !only.includes(scenario.name)) continue;
    log(`bench: ${scenario.name} ...`);
    const servers: Running[] = [];
    for (const name of scenario.servers) {
      if (name === "nginx" && !HAVE_NGINX) continue;
      const s = name === "rawserve"
        ? await rawserve(scenario.root)
        : name === "Deno.serve"
        ? await denoServe(scenario.root)
        : await nginx();
      servers.push(s);
      cleanups.push(s.stop);
    }
    for (const s of servers) await wrk(s, scenario.path, scenario.wrk, 1); // warm-up
    const samples = servers.map(() => [] as Sample[]);
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < servers.length; i++) {
        samples[i]!.push(await wrk(servers[i]!, scenario.path, scenario.wrk, DURATION));
      }
    }
    const cpu = new Map<string, number>();
    servers.forEach((s, i) => cpu.set(s.name, median(samples[i]!.map((x) => x.cpuUs))));
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      const own = cpu.get(s.name)!;
      const row: Row = {
        scenario: scenario.name,
        server: s.name + (s.name === "rawserve" && WORKERS !== "1" ? ` ×${WORKERS}` : ""),
        rps: median(samples[i]!.map((x) => x.rps)),
        p50Ms: median(samples[i]!.map((x) => x.p50)),
        p99Ms: median(samples[i]!.map((x) => x.p99)),
        cpuUsPerRequest: own,
      };
      if (cpu.has("Deno.serve")) row.vsDeno = own / cpu.get("Deno.serve")!;
      if (cpu.has("nginx")) row.vsNginx = own / cpu.get("nginx")!;
      if (flags.strace && which("strace")) {
        row.syscallsPerRequest = await syscallsPerRequest(s, scenario.path, scenario.wrk);
      }
      rows.push(row);
    }
    for (const s of servers) await s.stop();
    cleanups.length = 0;
  }

  if (!only || only.includes("startup")) {
    log("bench: startup ...");
    for (
      const [name, command] of [
        ["rawserve", [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "--quiet"]],
        ["Deno.serve", [Deno.execPath(), "run", "-A", `${ROOT}scripts/deno_serve_ref.ts`]],
      ] as const
    ) {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const port = freePort();
        const started = performance.now();
        const child = new Deno.Command(command[0], {
          args: [...command.slice(1), "--port", String(port)],
          stdout: "null",
          stderr: "null",
        }).spawn();
        for (let tries = 0; tries < 2000; tries++) {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/`);
            await res.body?.cancel();
            if (res.status === 200) break;
          } catch {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
        times.push(performance.now() - started);
        child.kill("SIGTERM");
        await child.status;
      }
      rows.push({
        scenario: "startup",
        server: name,
        rps: NaN,
        p50Ms: median(times),
        p99Ms: Math.max(...times),
        cpuUsPerRequest: NaN,
        note: "time from spawn to the first 200 (median of 5)",
      });
    }
  }

  if (!only || only.includes("idle10k")) {
    log(`bench: ${IDLE_CONNECTIONS} idle keep-alive connections ...`);
    rows.push(await idleConnections());
  }
} finally {
  for (const c of cleanups) await c();
  Deno.removeSync(DIR, { recursive: true });
}

/** Opens IDLE_CONNECTIONS keep-alive connections (one request each) and measures RSS growth. */
async function idleConnections(): Promise<Row> {
  const server = await rawserve(false);
  cleanups.push(server.stop);
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${server.pid}/status`))![1]);
  const request = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: bench\r\n\r\n");
  const buf = new Uint8Array(4096);
  const roundTrip = async (conn: Deno.Conn) => {
    await conn.write(request);
    let got = 0;
    while (got < EMBEDDED_PAGE.length) got += (await conn.read(buf)) ?? Infinity;
  };
  const warm = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await roundTrip(warm);
  await new Promise((r) => setTimeout(r, 500));
  const before = rss();
  const conns: Deno.Conn[] = [warm];
  let note = "";
  try {
    for (let i = 0; i < IDLE_CONNECTIONS; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, IDLE_CONNECTIONS - i) }, async () => {
          const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
          await roundTrip(c);
          return c;
        }),
      );
      conns.push(...batch);
    }
  } catch (e) {
    note = `stopped at ${conns.length} connections: ${e instanceof Error ? e.message : e}; `;
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss();
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await roundTrip(conns[i * 7 % conns.length]!);
    latencies.push(performance.now() - t);
  }
  for (const c of conns) c.close();
  await server.stop();
  const perConn = (after - before) / (conns.length - 1);
  return {
    scenario: "idle10k",
    server: "rawserve",
    rps: NaN,
    p50Ms: median(latencies),
    p99Ms: Math.max(...latencies),
    cpuUsPerRequest: NaN,
    note: `${note}${conns.length - 1} idle connections: RSS ${before} -> ${after} KiB, ` +
      `${perConn.toFixed(2)} KiB per connection; latency = a request among them`,
  };
}

// ---- report ---------------------------------------------------------------------------------

if (flags.json) {
  console.log(
    JSON.stringify({ date: new Date().toISOString(), pinned: PIN, workers: WORKERS, rows }, null, 2),
  );
} else {
  const n = (x: number | undefined, digits = 2) =>
    x === undefined || Number.isNaN(x)
      ? ""
      : new Intl.NumberFormat("en", { maximumFractionDigits: digits }).format(x);
  const kernel = decoder.decode(
    new Deno.Command("uname", { args: ["-r"], stdout: "piped" }).outputSync().stdout,
  );
  console.log(
    `${
      new Date().toISOString().slice(0, 10)
    }, ${navigator.hardwareConcurrency} CPUs, Linux ${kernel.trim()}, ` +
      `Deno ${Deno.version.deno}; ${PIN ? "server on CPU 0, wrk on CPU 1" : "not pinned"}; ` +
      `medians of ${ROUNDS} alternating ${DURATION} s runs\n`,
  );
  const strace = rows.some((r) => r.syscallsPerRequest);
  console.log(
    `| scenario | server | req/s | p50 ms | p99 ms | CPU µs/req | vs Deno.serve | vs nginx |${
      strace ? " syscalls/req |" : ""
    }`,
  );
  console.log(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |${strace ? " --- |" : ""}`);
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.server} | ${n(r.rps, 0)} | ${n(r.p50Ms)} | ${n(r.p99Ms)} | ${
        n(r.cpuUsPerRequest)
      } | ${n(r.vsDeno)} | ${n(r.vsNginx)} |${strace ? ` ${r.syscallsPerRequest ?? ""} |` : ""}`,
    );
  }
  const notes = new Map(rows.filter((r) => r.note).map((r) => [r.scenario, r.note]));
  for (const [scenario, note] of notes) console.log(`\n${scenario}: ${note}`);
}
