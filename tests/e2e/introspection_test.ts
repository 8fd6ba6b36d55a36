// End-to-end: --status, --metrics and --health on the real CLI over real sockets. Counters move
// by exactly the requests made; a client that stops reading shows its bytes in the kernel's
// send queue; TCP_INFO is plausible; the listener's accept queue is seen; the metrics parse
// strictly; health flips to 503 while draining; workers each answer for themselves.

import assert from "node:assert/strict";
import {
  bytes,
  concat,
  get,
  parseResponses,
  readResponses,
  sleep,
  startServer,
  stopOk,
  withServer,
  writeAll,
} from "./_server.ts";
import type { ConnectionRow, StatusSnapshot } from "../../app/operator/server_status.ts";
import { parsePrometheusText, type PromFamily } from "../app/operator/_prometheus_text.ts";

const PATHS = ["--status", "/status", "--metrics", "/metrics", "--health", "/health"];
const JSON_ACCEPT = "Accept: application/json\r\n";
/** The status page answers requests for loopback names only (app/introspection.ts, isLoopbackHost). */
function getStatus(extra = "", host = "localhost"): string {
  return `GET /status HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}
/** Larger than loopback's send and receive buffers together (autotuned up to ~10 MiB). */
const BIG_BYTES = 32 * 1024 * 1024;

function bigFileRoot(): { root: string; remove: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-status-" });
  Deno.writeFileSync(`${root}/big.bin`, new Uint8Array(BIG_BYTES).fill(98));
  return { root, remove: () => Deno.removeSync(root, { recursive: true }) };
}

/** A kept-alive client: sends raw requests, reads whole responses, and counts the bytes both ways. */
class Client {
  sent = 0;
  received = 0;
  private constructor(readonly conn: Deno.Conn) {}

  static async open(port: number, hostname = "127.0.0.1"): Promise<Client> {
    return new Client(await Deno.connect({ hostname, port }));
  }

  get localPort(): number {
    return (this.conn.localAddr as Deno.NetAddr).port;
  }

  async ask(request: string, methods: string[] = ["GET"]) {
    const data = bytes(request);
    await writeAll(this.conn, data);
    this.sent += data.length;
    const result = await readResponses(this.conn, { responses: methods.length, methods });
    this.received += result.raw.length;
    return result;
  }

  async status(): Promise<StatusSnapshot> {
    const { responses } = await this.ask(getStatus(JSON_ACCEPT));
    assert.equal(responses[0]?.status, 200);
    assert.equal(responses[0]!.headers.get("content-type"), "application/json");
    return JSON.parse(new TextDecoder().decode(responses[0]!.body));
  }

  async metrics(): Promise<Map<string, PromFamily>> {
    const { responses } = await this.ask(get("/metrics"));
    assert.equal(responses[0]?.status, 200);
    assert.equal(responses[0]!.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return parsePrometheusText(new TextDecoder().decode(responses[0]!.body));
  }

  close(): void {
    this.conn.close();
  }
}

function parseAll(raw: Uint8Array) {
  return parseResponses(raw, ["GET", "GET"]);
}

function sampleSum(families: Map<string, PromFamily>, name: string, sample = name): number {
  return families.get(name)!.samples.filter((s) => s.name === sample).reduce((n, s) => n + s.value, 0);
}

Deno.test("after N requests the counters have moved by exactly N, and the bytes by exactly what moved", async () => {
  await withServer(PATHS, async ({ port }) => {
    const client = await Client.open(port);
    try {
      // The first snapshot's request was read before it was taken, its response written after.
      const receivedBefore = client.received;
      const before = await client.status();
      const sentBefore = client.sent;
      const paths = Array.from({ length: 25 }, (_, i) => (i % 5 === 0 ? "/missing" : "/"));
      for (const path of paths) await client.ask(get(path));
      const bytesBetween = { sent: client.sent - sentBefore, received: client.received - receivedBefore };
      const statusRequest = getStatus(JSON_ACCEPT).length;
      const after = await client.status();
      // A snapshot counts its own request's head (read before it runs) but not its own
      // response (not complete until after it is composed): so the second snapshot's head and
      // the first one's response are the "+1"s below.
      const N = paths.length, notFound = paths.filter((p) => p !== "/").length;
      const b = before.counters, a = after.counters;
      assert.equal(a.requests - b.requests, N + 1);
      assert.equal((a.requestsByStatus["200"] ?? 0) - (b.requestsByStatus["200"] ?? 0), N - notFound + 1);
      assert.equal((a.requestsByStatus["404"] ?? 0) - (b.requestsByStatus["404"] ?? 0), notFound);
      assert.equal(after.responseSeconds.count - before.responseSeconds.count, N + 1);
      assert.equal(a.bytesIn - b.bytesIn, bytesBetween.sent + statusRequest);
      assert.equal(
        a.bytesOut - b.bytesOut,
        bytesBetween.received,
        "the first snapshot's response and the N",
      );
      assert.equal(a.accepted - b.accepted, 0, "all on one kept-alive connection");

      const m0 = await client.metrics();
      for (const path of paths) await client.ask(get(path));
      const m1 = await client.metrics();
      const requests = (m: Map<string, PromFamily>) => sampleSum(m, "rawserve_requests_total");
      const count = (m: Map<string, PromFamily>) =>
        sampleSum(m, "rawserve_response_seconds", "rawserve_response_seconds_count");
      assert.equal(requests(m1) - requests(m0), N + 1, "N, and the first scrape's own response");
      assert.equal(count(m1) - count(m0), N + 1);
      assert.equal(
        sampleSum(m1, "rawserve_requests_started_total") - sampleSum(m0, "rawserve_requests_started_total"),
        N + 1,
      );
    } finally {
      client.close();
    }
  });
});

Deno.test("the metrics parse strictly, and every response is in both the codes and the histogram", async () => {
  await withServer(PATHS, async ({ port }) => {
    const client = await Client.open(port);
    try {
      for (const path of ["/", "/", "/nope"]) await client.ask(get(path));
      await client.ask(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi`);
      const m = await client.metrics();
      const codes = Object.fromEntries(
        m.get("rawserve_requests_total")!.samples.map((s) => [s.labels.code, s.value]),
      );
      assert.ok(codes["200"]! >= 2 && codes["404"] === 1 && codes["405"] === 1, JSON.stringify(codes));
      assert.equal(
        sampleSum(m, "rawserve_requests_total"),
        sampleSum(m, "rawserve_response_seconds", "rawserve_response_seconds_count"),
      );
      assert.equal(m.get("rawserve_connections_open")!.samples[0]!.value, 1);
      assert.ok(m.get("rawserve_open_fds")!.samples[0]!.value > 3);
      assert.equal(m.get("rawserve_accept_queue_length")!.samples[0]!.value, 0);
      assert.equal(m.get("rawserve_accept_queue_limit")!.samples[0]!.value, 4096);
      const le = m.get("rawserve_response_seconds")!.samples.filter((s) => s.name.endsWith("_bucket"))
        .map((s) => s.labels.le);
      assert.equal(le[0], "0.0001");
      assert.equal(le.at(-2), "10");
    } finally {
      client.close();
    }
  });
});

/** The row of the connection whose client port is `port`, once `ready` holds for it. */
async function rowOf(
  client: Client,
  port: number,
  ready: (row: ConnectionRow) => boolean,
): Promise<{ row: ConnectionRow; snapshot: StatusSnapshot }> {
  for (let i = 0; i < 100; i++) {
    const snapshot = await client.status();
    const row = snapshot.connections.rows.find((r) => r.peer === `127.0.0.1:${port}`);
    if (row && ready(row)) return { row, snapshot };
    await sleep(20);
  }
  throw new Error(`No row for 127.0.0.1:${port} that is ready`);
}

Deno.test("a client that stops reading a large file shows its bytes queued in the kernel on its row", async () => {
  const { root, remove } = bigFileRoot();
  try {
    await withServer([...PATHS, "--root", root], async ({ port }) => {
      const observer = await Client.open(port);
      const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await writeAll(stalled, bytes(get("/big.bin"))); // and never read
        const stalledPort = (stalled.localAddr as Deno.NetAddr).port;
        const { row, snapshot } = await rowOf(observer, stalledPort, (r) => r.phase === "writing");
        assert.ok(row.queued.out! > 0, `SIOCOUTQ ${row.queued.out}`);
        assert.ok(row.pendingBytes > 0, "the rest of the file waits in our own queue");
        assert.ok(row.queued.out! + row.pendingBytes <= BIG_BYTES + 1024);
        assert.equal(row.queued.in, 0);
        assert.equal(row.requests, 1);
        assert.ok(row.fd > 2 && row.buffers.snd! > 0 && row.buffers.rcv! > 0);
        assert.equal(row.tcp?.state, "ESTABLISHED");
        assert.equal(snapshot.counters.filesOpen, 1);

        const own = snapshot.connections.rows.find((r) => r.peer === `127.0.0.1:${observer.localPort}`)!;
        assert.equal(own.phase, "busy", "the page's own connection, asked from inside its handler");
        const tcp = own.tcp!;
        assert.equal(tcp.state, "ESTABLISHED");
        assert.ok(tcp.rttUs > 0 && tcp.rttUs < 1_000_000, `rtt ${tcp.rttUs} µs`);
        assert.ok(tcp.cwnd > 0 && tcp.mss > 0 && tcp.pmtu >= tcp.mss, JSON.stringify(tcp));
        assert.ok(tcp.rcvSpace > 0 && tcp.ssthresh > 0);
        assert.equal(tcp.totalRetrans, 0, "loopback loses nothing");
        for (
          const key of [
            "rttVarUs",
            "retransmits",
            "unacked",
            "minRttUs",
            "notsentBytes",
            "bytesAcked",
            "bytesReceived",
          ]
        ) {
          assert.equal(typeof (tcp as unknown as Record<string, unknown>)[key], "number", key);
        }
        assert.ok(snapshot.system?.TCP?.inuse! >= 2, "sockstat counts at least our two");
        assert.ok(snapshot.process.openFds > 0 && snapshot.process.openFds <= snapshot.process.fdLimit);
      } finally {
        stalled.close();
        observer.close();
      }
    });
  } finally {
    remove();
  }
});

Deno.test("the listener's accept queue shows connections the server is not taking yet", async () => {
  await withServer([...PATHS, "--max-connections", "2", "--backlog", "16"], async ({ port }) => {
    const observer = await Client.open(port);
    const holder = await Client.open(port);
    const waiting: Deno.Conn[] = [];
    try {
      await holder.ask(get("/")); // two open: the server stops accepting
      assert.deepEqual((await observer.status()).listener, { backlog: 16, acceptQueue: 0 });
      for (let i = 0; i < 3; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeAll(conn, bytes(get("/"))); // TCP_DEFER_ACCEPT queues it once it speaks
        waiting.push(conn);
      }
      let listener = null;
      for (let i = 0; i < 100 && listener?.acceptQueue !== 3; i++) {
        listener = (await observer.status()).listener;
        await sleep(10);
      }
      assert.deepEqual(listener, { backlog: 16, acceptQueue: 3 });
      const m = await observer.metrics();
      assert.equal(m.get("rawserve_accept_queue_length")!.samples[0]!.value, 3);
      holder.close(); // room again: the queued clients are taken and answered, one at a time
      observer.close();
      for (const conn of waiting) {
        const { responses } = await readResponses(conn, { responses: 1 });
        assert.equal(responses[0]?.status, 200);
        conn.close();
      }
    } finally {
      for (const conn of waiting) {
        try {
          conn.close();
        } catch {
          // closed above
        }
      }
      try {
        holder.close();
        observer.close();
      } catch {
        // closed above
      }
    }
  });
});

/** Reads until the server closes the connection (bounded by `timeoutMs`). */
async function readToEnd(conn: Deno.Conn, first: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array> {
  const chunks = [first];
  const buf = new Uint8Array(1 << 20);
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return concat(chunks);
      chunks.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("health is 200 while serving and 503 with Connection: close during a drain", async () => {
  const { root, remove } = bigFileRoot();
  const server = await startServer(["--quiet", ...PATHS, "--root", root]);
  let client: Client | null = null;
  try {
    client = await Client.open(server.port);
    const ok = (await client.ask(get("/health"))).responses[0]!;
    assert.equal(ok.status, 200);
    assert.equal(new TextDecoder().decode(ok.body), "ok\n");
    assert.equal(ok.headers.get("connection"), undefined, "kept alive while serving");
    // A download in flight, and a health check behind it on the same connection: the check is
    // read only once the file has gone out, which is after SIGTERM.
    await writeAll(client.conn, bytes(get("/big.bin") + get("/health")));
    const first = new Uint8Array(65536);
    const n = await client.conn.read(first);
    assert.ok(n !== null && n > 0, "the download has begun");
    Deno.kill(server.pid, "SIGTERM");
    await refused(server.port); // the listener closed at once: new clients are turned away
    const raw = await readToEnd(client.conn, first.slice(0, n));
    const { responses } = parseAll(raw);
    assert.equal(responses.length, 2);
    assert.equal(responses[0]!.status, 200);
    assert.equal(responses[0]!.body.length, BIG_BYTES, "the download in flight finishes");
    const health = responses[1]!;
    assert.equal(health.status, 503);
    assert.equal(health.headers.get("connection"), "close");
    assert.equal(new TextDecoder().decode(health.body), "draining\n");
    assert.equal((await server.exited).code, 0, "then the server exits");
  } finally {
    client?.close();
    await stopOk(server).catch(() => {}); // already gone unless a check above failed
    remove();
  }
});

/** Waits until connecting to `port` is refused. */
async function refused(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionRefused) return;
      throw e;
    }
    await sleep(10);
  }
  throw new Error("The listener never closed");
}

Deno.test("the status page is HTML for a browser, also over IPv6 loopback", async () => {
  // Not withServer(): its warm-up and descriptor checks connect to 127.0.0.1.
  const server = await startServer(["--quiet", ...PATHS, "--host", "::1"]);
  try {
    const client = await Client.open(server.port, "::1");
    try {
      const accept = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";
      const page = (await client.ask(getStatus(accept, `[::1]:${server.port}`))).responses[0]!;
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
      assert.match(page.headers.get("content-security-policy")!, /default-src 'none'/);
      assert.equal(page.headers.get("cache-control"), "no-store");
      const html = new TextDecoder().decode(page.body);
      assert.match(html, /<h2>Connections<\/h2>/);
      assert.ok(html.includes(`[::1]:${client.localPort}`), "its own connection is a row, peer ::1 admitted");
      const head = (await client.ask("HEAD /status HTTP/1.1\r\nHost: [::1]\r\n\r\n", ["HEAD"])).responses[0]!;
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
    } finally {
      client.close();
    }
  } finally {
    await stopOk(server);
  }
});

Deno.test("the status page answers a loopback peer only for a loopback Host (DNS rebinding)", async () => {
  // A page of rebind.example whose name now resolves to 127.0.0.1 reaches the server from a
  // loopback peer, but its requests carry its own name.
  for (const [flags, publicPage] of [[[], false], [["--status-public"], true]] as const) {
    await withServer([...PATHS, ...flags], async ({ port }) => {
      const client = await Client.open(port);
      try {
        for (const host of ["rebind.example", `rebind.example:${port}`, "127.0.0.1.nip.io", "10.0.0.1"]) {
          const { responses } = await client.ask(getStatus(JSON_ACCEPT, host));
          assert.equal(responses[0]!.status, publicPage ? 200 : 403, `Host: ${host}`);
        }
        for (
          const host of ["localhost", `LOCALHOST:${port}`, "app.localhost", `127.0.0.1:${port}`, "[::1]"]
        ) {
          const { responses } = await client.ask(getStatus(JSON_ACCEPT, host));
          assert.equal(responses[0]!.status, 200, `Host: ${host}`);
        }
        const absolute = `GET http://rebind.example/status HTTP/1.1\r\nHost: localhost\r\n\r\n`;
        assert.equal(
          (await client.ask(absolute)).responses[0]!.status,
          publicPage ? 200 : 403,
          "absolute-form",
        );
        const metrics = await client.ask(get("/metrics"));
        assert.equal(metrics.responses[0]!.status, 200, "--metrics answers any client and any Host");
      } finally {
        client.close();
      }
    });
  }
});

/** The group's series of a family (no `worker` label) and each worker's, summed separately. */
function groupSums(families: Map<string, PromFamily>, name: string) {
  const samples = families.get(name)?.samples ?? [];
  const byWorker = new Map<string, number>();
  let total = 0;
  for (const s of samples) {
    if (s.labels.worker === undefined) total += s.value;
    else byWorker.set(s.labels.worker, (byWorker.get(s.labels.worker) ?? 0) + s.value);
  }
  return { total, byWorker };
}

/** One request on a connection of its own, so the kernel picks a worker for each. */
async function askAlone(port: number, request: string) {
  const client = await Client.open(port);
  try {
    return await client.ask(request);
  } finally {
    client.close();
  }
}

/** Longer than a worker takes to publish its numbers (PUBLISH_INTERVAL_MS, 1 s), with slack. */
const PUBLISHED_MS = 1500;

Deno.test("with --workers 2 any scrape counts the whole group: totals equal the requests made, both workers' series present", async () => {
  const server = await startServer(["--quiet", ...PATHS, "--workers", "2"]);
  try {
    const N = 40;
    for (let i = 0; i < N; i++) {
      assert.equal((await askAlone(server.port, get("/"))).responses[0]?.status, 200);
    }
    await sleep(PUBLISHED_MS);
    const answered = new Set<string>();
    // Each scrape is answered before its own response is counted; the next one, after a
    // publication, sees it (whichever worker answered it).
    for (let scrape = 0; scrape < 4; scrape++) {
      const { responses } = await askAlone(server.port, get("/metrics"));
      const text = new TextDecoder().decode(responses[0]!.body);
      const families = parsePrometheusText(text);
      const requests = groupSums(families, "rawserve_requests_total");
      assert.equal(requests.total, N + scrape, `scrape ${scrape}: the group's total`);
      assert.deepEqual([...requests.byWorker.keys()].sort(), ["0", "1"], `scrape ${scrape}: both workers`);
      const perWorker = [...requests.byWorker.values()].reduce((a, b) => a + b, 0);
      assert.equal(perWorker, N + scrape, "the workers' series add up to the group's");
      assert.ok(requests.byWorker.get("0")! > 0 && requests.byWorker.get("1")! > 0, "both served some");
      const accepted = groupSums(families, "rawserve_connections_accepted_total");
      assert.equal(accepted.total, N + scrape + 1, "every connection, this scrape's included");
      const ages = families.get("rawserve_worker_snapshot_age_seconds")!.samples;
      const own = ages.find((s) => s.value === 0)!;
      answered.add(own.labels.worker!);
      assert.ok(ages.every((s) => s.value < 3), text);
      await sleep(PUBLISHED_MS);
    }
    assert.ok(answered.size >= 1);
  } finally {
    await stopOk(server);
  }
});

Deno.test("with --workers the status page says which worker answered and lists the others", async () => {
  const server = await startServer(["--quiet", ...PATHS, "--workers", "2"]);
  try {
    await sleep(PUBLISHED_MS); // both have published once
    const client = await Client.open(server.port);
    try {
      const snapshot = await client.status();
      assert.ok(snapshot.worker && [0, 1].includes(snapshot.worker.index), JSON.stringify(snapshot.worker));
      assert.notEqual(snapshot.process.pid, server.pid, "a worker, not the supervisor, answered");
      assert.deepEqual(snapshot.group?.map((w) => w.index), [0, 1]);
      assert.equal(new Set(snapshot.group!.map((w) => w.pid)).size, 2, "two processes");
      const html = new TextDecoder().decode((await client.ask(getStatus())).responses[0]!.body);
      assert.match(html, new RegExp(`worker ${snapshot.worker.index} answered`));
      assert.match(html, new RegExp(`worker ${1 - snapshot.worker.index} \\(pid \\d+`));
    } finally {
      client.close();
    }
  } finally {
    await stopOk(server);
  }
});
