// --auth-file end to end: a file made by `htpasswd -B`, curl -u as the client. The right password
// opens a protected path, a wrong one gets 401 and the challenge, an unprotected path needs none,
// a file with another kind of hash is refused at start, and a flood of wrong passwords is bounded
// in the server's CPU while a logged-in client keeps being answered at once.

import assert from "node:assert/strict";
import { runCli, startServer } from "./_server.ts";
import { cpuMs } from "../../scripts/measure.ts";

/** Why the tests cannot run here, or null. */
function missing(): string | null {
  for (const tool of ["htpasswd", "curl"]) {
    try {
      new Deno.Command(tool, { args: ["--help"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${tool} is not installed; apt-get install -y ${tool === "htpasswd" ? "apache2-utils" : "curl"}`;
    }
  }
  return null;
}
const skip = missing();

const PASSWORD = "pa:ss wörd"; // a colon and a non-ASCII letter, both allowed in a password

/** A site with a public page and a private file, and an htpasswd file with alice at bcrypt cost 10. */
async function makeSite(): Promise<{ dir: string; users: string }> {
  const dir = await Deno.makeTempDir({ prefix: "rawserve-auth-" });
  await Deno.mkdir(`${dir}/site/private`, { recursive: true });
  await Deno.writeTextFile(`${dir}/site/index.html`, "public\n");
  await Deno.writeTextFile(`${dir}/site/private/s.txt`, "secret\n");
  const users = `${dir}/users`;
  // -C 10: the cost most guides give (htpasswd's own default, 5, is 32 times cheaper).
  const made = await new Deno.Command("htpasswd", { args: ["-cbB", "-C", "10", users, "alice", PASSWORD] })
    .output();
  assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
  return { dir, users };
}

/** curl's status, head and body for `url`, with `-u user` when given. */
async function curl(
  url: string,
  user?: string,
  more: string[] = [],
): Promise<{ status: number; head: string; body: string }> {
  const args = ["-s", "-i", "--max-time", "10", ...more, ...(user === undefined ? [] : ["-u", user]), url];
  const out = await new Deno.Command("curl", { args }).output();
  const text = new TextDecoder().decode(out.stdout);
  const split = text.indexOf("\r\n\r\n");
  return { status: Number(text.split(" ")[1]), head: text.slice(0, split), body: text.slice(split + 4) };
}

Deno.test({
  name: skip
    ? `--auth-file with htpasswd -B and curl -u (skipped: ${skip})`
    : "--auth-file: right password 200, wrong or none 401 with the challenge, unprotected path 200 without",
  ignore: skip !== null,
  async fn() {
    const { dir, users } = await makeSite();
    const server = await startServer([
      "--auth-file",
      users,
      "--auth-paths",
      "/private/*",
      "--auth-realm",
      "Team files",
      `${dir}/site`,
    ]);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const right = await curl(`${base}/private/s.txt`, `alice:${PASSWORD}`);
      assert.equal(right.status, 200);
      assert.equal(right.body, "secret\n");
      // The wrapper is protocol-neutral: HTTP/2 (h2c by prior knowledge) asks the same.
      const h2 = ["--http2-prior-knowledge"];
      assert.equal((await curl(`${base}/private/s.txt`, `alice:${PASSWORD}`, h2)).status, 200);
      assert.equal((await curl(`${base}/private/s.txt`, "alice:wrong", h2)).status, 401);
      for (const user of [`alice:wrong`, `bob:${PASSWORD}`, undefined]) {
        const refused = await curl(`${base}/private/s.txt`, user);
        assert.equal(refused.status, 401, String(user));
        assert.match(refused.head, /\r\nWWW-Authenticate: Basic realm="Team files", charset="UTF-8"\r\n/i);
        assert.ok(!refused.body.includes("secret"));
      }
      // The path as the site resolves it: an escaped letter or dot segments do not get around it.
      assert.equal((await curl(`${base}/%70rivate/s.txt`)).status, 401);
      assert.equal((await curl(`${base}/index.html/../private/s.txt`)).status, 401);
      const open = await curl(`${base}/`);
      assert.equal(open.status, 200);
      assert.equal(open.body, "public\n");
    } finally {
      const { code, stderr } = await server.stop();
      // The access log names the user let in (CLF's third field), and no one for the rest.
      const log = server.stdoutLines.filter((line) => line.includes('"GET '));
      const allowed = log.filter((line) => line.includes("/private/s.txt HTTP/") && line.includes('" 200 '));
      assert.equal(allowed.length, 2, log.join("\n"));
      assert.ok(allowed.every((line) => line.startsWith("127.0.0.1 - alice [")), log.join("\n"));
      const others = log.filter((line) => !allowed.includes(line));
      assert.ok(
        others.length === 7 && others.every((line) => line.startsWith("127.0.0.1 - - [")),
        log.join("\n"),
      );
      assert.ok(!server.stdoutLines.join("\n").includes(PASSWORD), "the password is never logged");
      assert.equal(code, 0, stderr);
      assert.ok(!stderr.includes(PASSWORD), "the password is never printed");
      assert.ok(!stderr.includes("warning"), "no warning on a loopback address");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: skip
    ? `--auth-file refusing another kind of hash (skipped: ${skip})`
    : "--auth-file refuses an MD5 line at start, in one line naming the user and the line",
  ignore: skip !== null,
  async fn() {
    const { dir, users } = await makeSite();
    try {
      const md5 = await new Deno.Command("htpasswd", { args: ["-bm", users, "bob", "x"] }).output();
      assert.equal(md5.code, 0);
      const { code, stdout, stderr } = await runCli(["--auth-file", users, `${dir}/site`]);
      assert.equal(code, 1);
      assert.equal(stdout, "");
      assert.match(
        stderr,
        /^rawserve: --auth-file \S+: line 2: user "bob" has an MD5 \(apr1\) hash; [^\n]*\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Tries wrong passwords as fast as the answers come, on `clients` connections, until `until`. */
async function flood(url: string, clients: number, until: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; performance.now() < until; i++) {
      // Each attempt different: nothing to share or remember, every one would cost a bcrypt.
      const authorization = `Basic ${btoa(`alice:wrong-${c}-${i}`)}`;
      const response = await fetch(url, { headers: { authorization } });
      await response.body?.cancel();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  }));
  return statuses;
}

Deno.test({
  name: skip
    ? `--auth-file under a flood of wrong passwords (skipped: ${skip})`
    : "a flood of wrong passwords is bounded in server CPU and answered 503 beyond the queue, while a logged-in client is answered at once",
  ignore: skip !== null,
  async fn() {
    const { dir, users } = await makeSite();
    const server = await startServer(["--quiet", "--auth-file", users, `${dir}/site`]);
    try {
      const url = `http://127.0.0.1:${server.port}/private/s.txt`;
      assert.equal((await curl(url, `alice:${PASSWORD}`)).status, 200); // logged in: remembered now
      const wallMs = 2_000;
      const cpuBefore = cpuMs(server.pid);
      const start = performance.now();
      const attack = flood(url, 48, start + wallMs);
      // The logged-in client, in its own process: 40 requests on one connection, one after another.
      const urls = Array(40).fill(["-o", "/dev/null", url]).flat();
      const good = await new Deno.Command("curl", {
        args: [
          "-s",
          "-u",
          `alice:${PASSWORD}`,
          "-w",
          "%{http_code} %{time_total}\\n",
          ...urls,
        ],
      }).output();
      const statuses = await attack;
      const elapsed = performance.now() - start;
      const cpu = cpuMs(server.pid) - cpuBefore;
      const answers = new TextDecoder().decode(good.stdout).trim().split("\n").map((l) => l.split(" "));
      const seconds = answers.map(([, s]) => Number(s)).sort((a, b) => a - b);
      const report = `server CPU ${cpu.toFixed(0)} ms in ${elapsed.toFixed(0)} ms; flood ${
        JSON.stringify([...statuses])
      }; logged-in client median ${(seconds[20]! * 1000).toFixed(1)} ms, max ${
        (seconds.at(-1)! * 1000).toFixed(1)
      } ms`;
      console.log(report);
      assert.equal(answers.length, 40, report);
      assert.ok(answers.every(([status]) => status === "200"), report);
      // Hashes run on at most half the CPUs (one here); the reactor answering the rest costs little.
      const verifying = Math.max(1, Math.floor(navigator.hardwareConcurrency / 2));
      assert.ok(cpu < (verifying + 0.5) * elapsed, report);
      assert.ok((statuses.get(503) ?? 0) > 0, `beyond the queue the answer is 503 at once: ${report}`);
      assert.ok((statuses.get(401) ?? 0) > 0, report);
      assert.deepEqual([...statuses.keys()].filter((s) => s !== 401 && s !== 503), [], report);
      // Remembered credentials cost no bcrypt: answered as if there were no flood.
      assert.ok(seconds[20]! < 0.05 && seconds.at(-1)! < 0.5, report);
    } finally {
      const { code, stderr } = await server.stop();
      assert.equal(code, 0, stderr);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
