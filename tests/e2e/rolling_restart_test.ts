// Across machines, for real: HAProxy (Debian's package) in front of three rawserve instances,
// each in its own network namespace with its own address on a veth pair, HAProxy sending PROXY
// v2 and checking --health. Under wrk's load through HAProxy, each instance in turn is stopped
// (SIGTERM with --drain-delay: health says 503, HAProxy takes it out, then it drains) and started
// again: no request fails, HAProxy's stats show each leave and come back, and every access-log
// line carries the load generator's address, not HAProxy's. Traffic stays on loopback and on the
// namespaces the test makes (and removes).

import assert from "node:assert/strict";
import { cliCommand } from "./_server.ts";
import { freePort, haproxyConfig, startHaproxy } from "./_haproxy.ts";

function runs(name: string, args: string[]): boolean {
  try {
    return new Deno.Command(name, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Namespaces can be made here (root, iproute2) and the tools exist: else the test says which is missing. */
function missing(): string | null {
  for (const [tool, args] of [["haproxy", ["-v"]], ["wrk", ["--version"]], ["ip", ["-V"]]] as const) {
    // wrk --version exits 1 after printing its version; it runs, which is what matters.
    try {
      new Deno.Command(tool, { args: [...args], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${tool} is not installed`;
    }
  }
  const probe = `rsprobe${Deno.pid % 100000}`;
  if (!runs("ip", ["netns", "add", probe])) {
    return "network namespaces cannot be made here (ip netns add failed)";
  }
  runs("ip", ["netns", "del", probe]);
  return null;
}

const MISSING = missing();
const ID = Deno.pid % 10000;
const COUNT = 3;
/** 10.213.N.0/24 per instance: HAProxy's side .1 (the root namespace), rawserve's .2. */
const subnet = (i: number) => `10.213.${(ID % 200) + i}`;

function ip(...args: string[]): void {
  const out = new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A namespace with a veth pair to the root namespace; removed (with the pair) on dispose. */
function makeMachine(i: number): Disposable & { ns: string; address: string } {
  const ns = `rs${ID}m${i}`, host = `rv${ID}h${i}`, peer = `rv${ID}p${i}`;
  ip("netns", "add", ns);
  try {
    ip("link", "add", host, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", ns);
    ip("addr", "add", `${subnet(i)}.1/24`, "dev", host);
    ip("link", "set", host, "up");
    ip("-n", ns, "addr", "add", `${subnet(i)}.2/24`, "dev", peer);
    ip("-n", ns, "link", "set", peer, "up");
    ip("-n", ns, "link", "set", "lo", "up");
  } catch (e) {
    runs("ip", ["netns", "del", ns]);
    runs("ip", ["link", "del", host]);
    throw e;
  }
  return {
    ns,
    address: `${subnet(i)}.2`,
    [Symbol.dispose]() {
      runs("ip", ["netns", "del", ns]); // the veth pair goes with it
      runs("ip", ["link", "del", host]);
    },
  };
}

/** rawserve in a namespace; its access-log lines are collected across restarts. */
class Instance {
  #child: Deno.ChildProcess | null = null;
  #done: Promise<void> = Promise.resolve();
  constructor(
    readonly ns: string,
    readonly address: string,
    readonly balancer: string,
    readonly log: string[],
  ) {}

  /** Starts it and waits for its URL line. */
  async start(): Promise<void> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.ns, Deno.execPath(), ...cliCommand(this.args())],
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#child = child;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    while (!pending.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`rawserve in ${this.ns} did not start`);
      pending += value;
    }
    clearTimeout(killer);
    pending = pending.slice(pending.indexOf("\n") + 1);
    this.#done = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        this.log.push(...lines.filter((l) => l.includes('"GET ')));
      }
    })();
  }

  args(): string[] {
    return [
      "-H",
      this.address,
      "-p",
      "8080",
      "--proxy-protocol",
      "--trusted-proxy",
      this.balancer,
      "--health",
      "/health",
      "--drain-delay",
      "1",
    ];
  }

  /** SIGTERM, then waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    const child = this.#child;
    if (!child) return 0;
    this.#child = null;
    try {
      child.kill(signal);
    } catch {
      // gone
    }
    const status = await child.status;
    await this.#done;
    return status.code;
  }
}

/** HAProxy's view of each server (`UP`, `DOWN`, ...), from its CSV stats page. */
async function serverStates(statsPort: number): Promise<Record<string, string>> {
  const response = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`);
  const states: Record<string, string> = {};
  for (const line of (await response.text()).split("\n")) {
    const cells = line.split(",");
    if (cells[0] === "rawserve" && /^r\d$/.test(cells[1] ?? "")) {
      states[cells[1]!] = cells[17]!.split(" ")[0]!;
    }
  }
  return states;
}

async function waitForState(statsPort: number, server: string, state: string): Promise<void> {
  const until = Date.now() + 10_000;
  while ((await serverStates(statsPort))[server] !== state) {
    if (Date.now() > until) throw new Error(`${server} never became ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: MISSING === null
    ? "rolling restart behind HAProxy: three rawserve in their own network namespaces, restarted one by one under wrk load, zero failed requests"
    : `rolling restart behind HAProxy (skipped: ${MISSING})`,
  ignore: MISSING !== null,
  fn: async () => {
    const machines = Array.from({ length: COUNT }, (_, i) => makeMachine(i));
    const log: string[] = [];
    const instances = machines.map((m, i) => new Instance(m.ns, m.address, `${subnet(i)}.1`, log));
    try {
      await Promise.all(instances.map((instance) => instance.start()));
      const front = freePort(), stats = freePort();
      // No retries: a connection refused by a stopping instance would be a failed request, so
      // only the drain (HAProxy takes the instance out before its listener closes) keeps it at zero.
      const config = haproxyConfig(`127.0.0.1:${front}`, instances.map((s) => `${s.address}:8080`), 0) +
        `\nlisten stats\n  bind 127.0.0.1:${stats}\n  stats enable\n  stats uri /stats\n`;
      await using _haproxy = await startHaproxy(config, front);
      for (let i = 0; i < COUNT; i++) await waitForState(stats, `r${i + 1}`, "UP");
      const wrk = new Deno.Command("wrk", {
        args: ["-t1", "-c8", "-d12s", `http://127.0.0.1:${front}/`],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < COUNT; i++) {
        const stopped = instances[i]!.stop("SIGTERM");
        await waitForState(stats, `r${i + 1}`, "DOWN"); // health said 503 during the drain delay
        assert.equal(await stopped, 0);
        await instances[i]!.start();
        await waitForState(stats, `r${i + 1}`, "UP");
      }
      const out = new TextDecoder().decode((await wrk.output()).stdout);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
      assert.ok(requests > 100, out);
      assert.doesNotMatch(out, /Socket errors|Non-2xx/, out);
      if (Deno.env.get("ROLLING_REPORT")) console.log(out);
    } finally {
      await Promise.all(instances.map((instance) => instance.stop("SIGTERM")));
      for (const machine of machines) machine[Symbol.dispose]();
    }
    assert.ok(log.length > 100, `${log.length} access-log lines`);
    const strangers = log.filter((line) => !line.startsWith("127.0.0.1 "));
    assert.deepEqual(strangers.slice(0, 3), [], "every line names wrk's address, none HAProxy's");
  },
});
