// Streams and bodies of an --app through real sockets (issue 18): a streamed download never
// starves the other clients, chunks that are not bytes cut their own response only, and uploads
// cost memory in proportion to their bytes, within the server's body budget.

import assert from "node:assert/strict";
import {
  bytes,
  exchange,
  get,
  readResponses,
  startServer,
  STEADY_HEAP_ENV,
  stopOk,
  writeAll,
} from "./_server.ts";
import { rssKiB } from "../../scripts/measure.ts";

const APP = new URL("./apps/stream_app.ts", import.meta.url).pathname;

/** A download read as fast as it comes, counted; `stop()` closes it. */
function download(conn: Deno.Conn) {
  const state = { total: 0, ended: false, stopped: false };
  const buf = new Uint8Array(256 * 1024);
  const done = (async () => {
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        state.total += n;
      }
    } catch (e) {
      if (!state.stopped) throw e;
    }
    state.ended = true;
  })();
  return {
    state,
    async stop() {
      state.stopped = true;
      conn.close();
      await done;
    },
  };
}

/** Waits (at most 10 s) until `value()` reaches `target`. */
async function waitFor(value: () => number, target: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (value() < target) {
    if (Date.now() > end) throw new Error(`Stuck at ${value()} bytes, waiting for ${target}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("a streamed download to a fast reader leaves other clients answered within milliseconds", async () => {
  const server = await startServer(["--quiet", "--app", APP]);
  const downloading = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const probe = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    // ~120 MB of CSV rows, one string each: far more than the probes take to finish.
    await writeAll(downloading, bytes(get("/csv?rows=4000000")));
    const { state, stop } = download(downloading);
    await waitFor(() => state.total, 1 << 20);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await writeAll(probe, bytes(get("/")));
      const { responses } = await readResponses(probe, { responses: 1, timeoutMs: 5000 });
      latencies.push(Math.round(performance.now() - started));
      assert.equal(responses[0]?.status, 200);
    }
    const during = state.total;
    assert.equal(state.ended, false, `the download was still going (${during} bytes so far)`);
    assert.ok(Math.max(...latencies) < 200, `every answer within 200 ms during the download: ${latencies}`);
    // The download kept moving while the probes were answered, and goes on after them.
    await waitFor(() => state.total, during + (1 << 20));
    await stop();
    probe.close();
  } catch (e) {
    await server.stop(); // a starved server may not even hear SIGTERM: stop() kills it after 10 s
    throw e;
  }
  await stopOk(server);
});

Deno.test("a response stream chunk that is not bytes cuts that response only, logged once with its request", async () => {
  const server = await startServer(["--quiet", "--app", APP]);
  const cases: [string, string][] = [
    ["/bad?kind=string", "a string"],
    ["/bad?kind=u16", "a Uint16Array"],
    ["/bad?kind=arraybuffer", "an ArrayBuffer"],
    ["/echo-text", "a string"],
  ];
  let failures = 0;
  try {
    for (const [path] of cases) {
      for (const version of ["1.1", "1.0"]) {
        const label = `${path} over HTTP/${version}`;
        const upload = path === "/echo-text";
        const head = upload
          ? `POST ${path} HTTP/${version}\r\nHost: test\r\nContent-Length: 6\r\n\r\nhello\n`
          : `GET ${path} HTTP/${version}\r\nHost: test\r\n\r\n`;
        const { raw, closed } = await exchange(server.port, head, { timeoutMs: 5000 });
        const text = new TextDecoder().decode(raw);
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, label);
        assert.equal(closed, true, `${label}: the connection is closed`);
        assert.doesNotMatch(text, /\0/, `${label}: no NUL bytes`);
        assert.ok(!/\r\n0\r\n\r\n$/.test(text), `${label}: no last chunk, so the client sees a cut body`);
        if (version === "1.1") assert.match(text, /transfer-encoding: chunked/i, label);
        if (!upload) assert.ok(text.endsWith("good\n") || text.endsWith("good\n\r\n"), `${label}: ${text}`);
        failures++;
        // The server goes on: the next connection is answered.
        const next = await exchange(server.port, get("/", "Connection: close\r\n"), { responses: 1 });
        assert.equal(next.responses[0]?.status, 200, `${label}: the next client is answered`);
      }
    }
  } catch (e) {
    await server.stop();
    throw e;
  }
  const stderr = await stopOk(server);
  const lines = stderr.split("\n").filter((line) => line.startsWith("Response stream"));
  assert.equal(lines.length, failures, `one line per cut response:\n${stderr}`);
  for (const [path, kind] of cases) {
    const method = path === "/echo-text" ? "POST" : "GET";
    const pattern =
      `Response stream of ${method} ${path} failed: A response stream chunk must be a Uint8Array, not ${kind}`;
    assert.equal(lines.filter((line) => line === pattern).length, 2, `${pattern}\n${stderr}`);
  }
});

/** A chunked request body of `n` one-byte chunks, then the last chunk. */
function oneByteChunks(n: number): Uint8Array {
  const one = bytes("1\r\nx\r\n");
  const out = new Uint8Array(one.length * n + 5);
  for (let i = 0; i < n; i++) out.set(one, i * one.length);
  out.set(bytes("0\r\n\r\n"), one.length * n);
  return out;
}

/** A POST of `body` (chunked) to `path`. */
function chunkedPost(path: string, body: Uint8Array, extra = ""): Uint8Array {
  const head = bytes(`POST ${path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n${extra}\r\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Samples the server's RSS every 10 ms while `run` runs. @returns the peak growth in MiB */
async function peakGrowthMiB(pid: number, run: () => Promise<void>): Promise<number> {
  const base = rssKiB(pid);
  let peak = base;
  const sampler = setInterval(() => peak = Math.max(peak, rssKiB(pid)), 10);
  try {
    await run();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, rssKiB(pid));
  return (peak - base) / 1024;
}

Deno.test("uploads in one-byte chunks cost memory in proportion to their bytes, not their chunks", async () => {
  const server = await startServer(["--quiet", "--app", APP], STEADY_HEAP_ENV);
  try {
    const body = oneByteChunks(250_000);
    const upload = () =>
      exchange(server.port, chunkedPost("/upload", body, "Connection: close\r\n"), {
        responses: 1,
        timeoutMs: 20_000,
      });
    assert.equal(new TextDecoder().decode((await upload()).responses[0]?.body), "250000\n", "warm-up");
    // Four at once, read whole with arrayBuffer(): 1.5 MB on the wire each. One piece per chunk
    // held ~400 bytes per body byte (+430 MiB here); Deno.serve grows ~8 MiB for four of 1 MB.
    const fourAtOnce = await peakGrowthMiB(server.pid, async () => {
      const answers = await Promise.all([upload(), upload(), upload(), upload()]);
      for (const { responses } of answers) {
        assert.equal(responses[0]?.status, 200);
        assert.equal(new TextDecoder().decode(responses[0]?.body), "250000\n");
      }
    });
    assert.ok(
      fourAtOnce < 24,
      `four uploads of 250,000 one-byte chunks grew RSS by ${fourAtOnce.toFixed(1)} MiB`,
    );
    // Twenty that wait a second before reading: each holds what one queue may (BODY_QUEUE_BYTES,
    // counted with what its pieces really cost) meanwhile; one piece per chunk held ~22 MiB each.
    const base = rssKiB(server.pid);
    const slowReader = chunkedPost("/upload?wait=1000", oneByteChunks(100_000), "Connection: close\r\n");
    const answers = Promise.all(
      Array.from(
        { length: 20 },
        () => exchange(server.port, slowReader, { responses: 1, timeoutMs: 20_000 }),
      ),
    );
    await new Promise((r) => setTimeout(r, 600)); // all sent that the server will take before reading
    const holding = (rssKiB(server.pid) - base) / 1024;
    for (const { responses } of await answers) {
      assert.equal(new TextDecoder().decode(responses[0]?.body), "100000\n", "each is read whole after all");
    }
    assert.ok(holding < 24, `twenty uploads waiting to be read grew RSS by ${holding.toFixed(1)} MiB`);
  } catch (e) {
    await server.stop();
    throw e;
  }
  await stopOk(server);
});

Deno.test("bodies an app reads whole count against --max-body-memory: 503 with Retry-After beyond it", async () => {
  const MiB = 1024 * 1024;
  const server = await startServer(["--quiet", "--app", APP, "--max-body-memory", String(4 * MiB)]);
  const conns: Deno.Conn[] = [];
  try {
    await exchange(server.port, get("/", "Connection: close\r\n"));
    // Forty uploads of 1 MiB, each stalled one byte short, to an app that calls arrayBuffer():
    // three fit in the 4 MiB budget, the rest are refused. Without the bound every byte was kept
    // (300 such uploads grew RSS by 315 MiB).
    const head = bytes(`POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: ${MiB}\r\n\r\n`);
    const body = new Uint8Array(MiB - 1).fill(120);
    let outcomes: ("refused" | "held")[] = [];
    const growth = await peakGrowthMiB(server.pid, async () => {
      outcomes = await Promise.all(Array.from({ length: 40 }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        conns.push(conn);
        await writeAll(conn, head);
        await writeAll(conn, body).catch(() => {}); // a refused upload may be cut short
        try {
          const { responses } = await readResponses(conn, { responses: 1, timeoutMs: 1500 });
          assert.equal(responses[0]?.status, 503);
          assert.equal(responses[0]?.headers.get("retry-after"), "1");
          return "refused";
        } catch (e) {
          if (String(e).includes("No complete answer") || e instanceof Deno.errors.Interrupted) return "held";
          throw e;
        }
      }));
    });
    const held = outcomes.filter((o) => o === "held").length;
    assert.ok(held >= 1 && held <= 4, `uploads held within the budget: ${held} of 40`);
    assert.equal(outcomes.length - held, 40 - held, "every other upload got 503");
    assert.ok(growth < 24, `forty stalled 1 MiB uploads grew RSS by ${growth.toFixed(1)} MiB`);
  } catch (e) {
    closeAll(conns);
    await server.stop();
    throw e;
  }
  closeAll(conns);
  await stopOk(server);
});

/** Closes connections, some of which a timeout closed already. */
function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // closed by readResponses' timeout
    }
  }
}
