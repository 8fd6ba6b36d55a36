// End-to-end: what a hostile HTTP/2 client can make of the real CLI's streams over h2c, frame by
// frame from Debian's python3-h2 stack (tests/e2e/h2_streams.py): resets the server is made to
// send are rapid resets too, reset streams keep their concurrency slots while their handlers
// run, a body that never ends does not hold its stream, empty DATA is no progress, one trickled
// window does not keep stalled streams (and their files), and DATA frames stay at 16 KiB.

import assert from "node:assert/strict";
import { startServer } from "./_server.ts";
import { DATA_FRAME_BYTES, MAX_CONCURRENT_STREAMS } from "../../http/h2/session.ts";
import { FLOOD_LIMITS } from "../../http/h2/session.ts";
import { H2_ERROR } from "../../http/h2/frames.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./h2_streams.py", import.meta.url).pathname;
const APP = new URL("./apps/h2_app.ts", import.meta.url).pathname;
/** Short deadlines, so a test sees them pass (seconds). */
const TIMEOUTS = ["--body-timeout", "1", "--idle-timeout", "1", "--write-timeout", "1"];

/** Why the scenarios cannot run here, or null. */
const SKIP = (() => {
  try {
    const out = new Deno.Command(PYTHON, { args: ["-c", "import hpack, hyperframe"], stderr: "null" })
      .outputSync();
    return out.success ? null : "no python3-h2; apt-get install -y python3-h2";
  } catch {
    return "no /usr/bin/python3";
  }
})();

/** Runs one scenario of h2_streams.py against `port`; its JSON result. */
async function scenario(port: number, name: string, arg = ""): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, String(port), name, ...(arg ? [arg] : [])],
    stderr: "inherit",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(out.success, `${name} ${arg}: the Python client failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function h2Test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name: SKIP ? `${name} (skipped: ${SKIP})` : name, ignore: SKIP !== null, fn });
}

/** Runs `fn` with the CLI serving the test app. */
async function withApp(fn: (port: number) => Promise<void>): Promise<void> {
  const server = await startServer(["--quiet", ...TIMEOUTS, "--app", APP]);
  try {
    await fn(server.port);
  } finally {
    await server.stop();
  }
}

for (const mode of ["content-length", "window-update-0", "priority"]) {
  h2Test(
    `h2 streams the server resets (${mode}) are rapid resets: GOAWAY ENHANCE_YOUR_CALM after FLOOD_LIMITS.reset handler calls`,
    () =>
      withApp(async (port) => {
        const result = await scenario(port, "provoked_resets", mode);
        assert.equal(result.goaway, H2_ERROR.ENHANCE_YOUR_CALM);
        assert.ok((result.calls as number) <= FLOOD_LIMITS.reset + 1, `${result.calls} handler calls`);
      }),
  );
}

h2Test(
  "h2 150 slow handlers whose streams the server resets: at most MAX_CONCURRENT_STREAMS run at once",
  () =>
    withApp(async (port) => {
      const result = await scenario(port, "slow_resets");
      assert.equal(result.max, MAX_CONCURRENT_STREAMS);
      assert.equal(result.refused, 150 - MAX_CONCURRENT_STREAMS);
    }),
);

h2Test(
  "h2 a handler that reads part of a body and answers: RST_STREAM(NO_ERROR), then the idle timeout closes",
  () =>
    withApp(async (port) => {
      const result = await scenario(port, "claimed_body");
      assert.deepEqual(result.resets, [H2_ERROR.NO_ERROR]);
      assert.equal(result.closed, true);
      assert.ok((result.seconds as number) < 3, `closed after ${result.seconds} s`);
    }),
);

for (const kind of ["empty", "padded"]) {
  h2Test(
    `h2 ${kind} DATA frames every 200 ms do not defer a stalled body's 408`,
    () =>
      withApp(async (port) => {
        const result = await scenario(port, "empty_data", kind);
        assert.equal(result.status, "408");
        assert.ok((result.seconds as number) < 2.5, `408 after ${result.seconds} s`);
      }),
  );
}

h2Test("h2 a 16 MiB SETTINGS_MAX_FRAME_SIZE still gets DATA frames of 16 KiB", () =>
  withApp(async (port) => {
    const result = await scenario(port, "big_frames");
    assert.equal(result.bytes, 1 << 20);
    assert.equal(result.largest, DATA_FRAME_BYTES);
  }));

h2Test(
  "h2 one stream's trickled window does not keep 19 stalled file streams: they are reset, their files let go",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "rawserve-h2-streams-" });
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(300_000));
    const server = await startServer(["--quiet", ...TIMEOUTS, "--metrics", "/metrics", dir]);
    /** The responses holding a file now (an open-file cache may share one descriptor among them). */
    const filesOpen = async () => {
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      return Number(/^rawserve_files_open (\d+)/m.exec(text)![1]);
    };
    try {
      const running = scenario(server.port, "trickle", "20");
      let most = 0;
      const end = Date.now() + 2500; // past the 1 s write timeout, within the client's 3 s of trickling
      while (Date.now() < end) {
        most = Math.max(most, await filesOpen());
        await new Promise((r) => setTimeout(r, 100));
      }
      const stalled = await filesOpen();
      const result = await running;
      const resets = result.resets as Record<string, number>;
      assert.equal(resets["1"], undefined, "the stream whose window moves is kept");
      assert.equal(Object.keys(resets).length, 19);
      assert.ok(Object.values(resets).every((code) => code === H2_ERROR.CANCEL));
      assert.ok((result.stream1Bytes as number) > 0);
      assert.equal(most, 20, "every stream held its file at first");
      assert.equal(stalled, 1, "only the trickled stream still holds its file");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
