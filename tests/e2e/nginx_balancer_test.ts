// nginx (Debian's nginx-light) as the balancer in front of three rawserve instances on Unix
// sockets (`--unix`). nginx-light has no stream module, so no PROXY protocol: nginx's http proxy
// writes X-Forwarded-For and rawserve trusts it from Unix-socket peers only (`--trusted-proxy
// unix --forwarded-field x-forwarded-for`). Under wrk's load through nginx's loopback port, each
// instance in turn is stopped (SIGTERM with --drain-delay) and started again on the same path:
// no request fails, nginx logs each instance leaving, each serves again after it is back, and
// every access-log line carries wrk's address (127.0.0.1), neither a Unix-socket peer nor the
// X-Forwarded-For wrk forges.
//
// How the drain works with passive health only: nginx-light never asks --health, so the 503 of
// the drain delay does not take an instance out; nginx keeps sending it requests, which it
// serves until its listener closes. From then on a connection to its socket is refused (or the
// path is gone), nginx retries that request on the next instance (`proxy_next_upstream error`;
// a GET may be retried) and leaves the instance out for `fail_timeout`, after which one request
// tries it again. A connection that was queued but never accepted when the listener closed is
// reset before any response, and is retried the same way. So no client request fails whatever
// the timing; --drain-delay is there because the same instances may sit behind a balancer that
// checks --health (as HAProxy does in rolling_restart_test.ts).

import assert from "node:assert/strict";
import { cliCommand } from "./_server.ts";
import { freePort } from "./_haproxy.ts";
import { nginxSite, startNginx } from "./_nginx_balancer.ts";

/** Which tool is missing, or null when nginx and wrk both run. */
function missing(): string | null {
  for (const [tool, args] of [["nginx", ["-v"]], ["wrk", ["--version"]], ["curl", ["--version"]]] as const) {
    // wrk --version exits 1 after printing its version; it runs, which is what matters.
    try {
      new Deno.Command(tool, { args: [...args], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${tool} is not installed`;
    }
  }
  return null;
}

const MISSING = missing();
const COUNT = 3;
const FORGED = "203.0.113.9";

/** rawserve on a Unix socket; its access-log lines are collected across restarts. */
class Instance {
  #child: Deno.ChildProcess | null = null;
  #done: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  constructor(readonly path: string) {}

  /** Starts it and waits for its "listening" line. */
  async start(): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: cliCommand([
        "--unix",
        this.path,
        "--trusted-proxy",
        "unix",
        "--forwarded-field",
        "x-forwarded-for",
        "--health",
        "/health",
        "--drain-delay",
        "1",
      ]),
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
      if (done) throw new Error(`rawserve on ${this.path} did not start`);
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

  /** Signals it, then waits for the exit (SIGKILL after 10 s). */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    const child = this.#child;
    if (!child) return 0;
    this.#child = null;
    try {
      child.kill(signal);
    } catch {
      // gone
    }
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const status = await child.status;
    clearTimeout(killer);
    await this.#done;
    return status.code;
  }

  /** Resolves once it has logged more than `count` requests (at most 5 s). */
  async served(count: number): Promise<void> {
    const until = Date.now() + 5_000;
    while (this.log.length <= count) {
      if (Date.now() > until) throw new Error(`${this.path} served nothing after its restart`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test({
  name: MISSING === null
    ? "rolling restart behind nginx over Unix sockets: three rawserve restarted one by one under wrk load, zero failed requests, every log line names wrk's address"
    : `rolling restart behind nginx over Unix sockets (skipped: ${MISSING})`,
  ignore: MISSING !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const instances = Array.from({ length: COUNT }, (_, i) => new Instance(`${dir}/r${i + 1}.sock`));
    let errorLog = "";
    try {
      await Promise.all(instances.map((instance) => instance.start()));
      const front = freePort();
      await using nginx = await startNginx(
        nginxSite(`127.0.0.1:${front}`, instances.map((s) => s.path)),
        front,
      );
      const wrk = new Deno.Command("wrk", {
        args: ["-t1", "-c8", "-d12s", "-H", `X-Forwarded-For: ${FORGED}`, `http://127.0.0.1:${front}/`],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await new Promise((r) => setTimeout(r, 500));
      for (const instance of instances) {
        assert.equal(await instance.stop("SIGTERM"), 0);
        const before = instance.log.length;
        await instance.start();
        await instance.served(before); // nginx tried it again after fail_timeout, and it answered
      }
      const out = new TextDecoder().decode((await wrk.output()).stdout);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
      assert.ok(requests > 100, out);
      assert.doesNotMatch(out, /Socket errors|Non-2xx/, out);
      errorLog = nginx.errorLog();
      if (Deno.env.get("ROLLING_REPORT")) {
        const retried = errorLog.split("\n").filter((l) => /\[(crit|error)\].*(from|to) upstream/.test(l));
        console.log(`${out}requests nginx retried on another instance: ${retried.length}`);
      }
    } finally {
      await Promise.all(instances.map((instance) => instance.stop("SIGTERM")));
      await Deno.remove(dir, { recursive: true });
    }
    for (const instance of instances) {
      const left = new RegExp(`upstream server temporarily disabled.*unix:${instance.path}`);
      assert.match(errorLog, left, `nginx saw ${instance.path} leave`);
    }
    const log = instances.flatMap((instance) => instance.log);
    assert.ok(log.length > 100, `${log.length} access-log lines`);
    const strangers = log.filter((line) => !line.startsWith("127.0.0.1 "));
    assert.deepEqual(
      strangers.slice(0, 3),
      [],
      "every line names wrk's address: not unix:, not the forged one",
    );
  },
});
