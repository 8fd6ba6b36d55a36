// The Prometheus text rawserve writes, judged by a strict parser of the 0.0.4 format's rules
// (tests/app/operator/_prometheus_text.ts), and that parser shown to reject what the rules forbid.

import assert from "node:assert/strict";
import { renderGroupMetrics, renderMetrics } from "../../../app/operator/metrics_text.ts";
import { ResponseMetrics } from "../../../app/operator/response_metrics.ts";
import type { StatusSnapshot } from "../../../app/operator/server_status.ts";
import { parsePrometheusText, PromParseError } from "./_prometheus_text.ts";

/** A snapshot with every part filled, and error kinds that need escaping. */
function snapshot(worker: { index: number } | null = null): StatusSnapshot {
  const metrics = new ResponseMetrics();
  for (
    const [status, ms, protocol] of [[200, 0, "h2"], [200, 0.3, "h1"], [404, 12, "h2"], [
      500,
      20_000,
      "h2",
    ]] as const
  ) {
    metrics.record(status, ms, protocol);
  }
  return {
    process: { pid: 1, uptimeS: 2, startTimeS: 1_700_000_000, rssBytes: 50e6, openFds: 12, fdLimit: 1024 },
    worker,
    draining: false,
    listener: { backlog: 4096, acceptQueue: 3 },
    reactor: { batches: 10, waits: 20, blockingWaits: 3, yields: 19, spinBudget: 16 },
    counters: {
      accepted: 5,
      open: 2,
      requests: 5,
      requestsByStatus: metrics.statusCounts(),
      requestsByProtocol: metrics.protocolCounts(),
      bytesIn: 400,
      bytesOut: 9000,
      filesOpen: 0,
      filesKept: 2,
      errors: { 'quote " and back\\slash': 1, "line\nbreak": 2, "http 400": 3 },
      clientsLeft: { ECONNRESET: 2 },
    },
    responseSeconds: {
      buckets: metrics.cumulativeBuckets().map((b) => ({
        le: b.le === Infinity ? "+Inf" : b.le,
        count: b.count,
      })),
      sum: metrics.sumSeconds,
      count: metrics.count,
    },
    system: null,
    connections: { total: 2, shown: 0, rows: [] },
    webSockets: {
      totals: {
        opened: 3,
        open: 1,
        messagesIn: 7,
        messagesOut: 5,
        bytesIn: 700,
        bytesOut: 500,
        closes: { "1000": 1, "1006": 1 },
      },
      shown: 0,
      rows: [],
    },
  };
}

Deno.test("renderMetrics() output parses strictly and carries every metric the issue names", () => {
  const families = parsePrometheusText(renderMetrics(snapshot()));
  for (
    const name of [
      "rawserve_requests_total",
      "rawserve_requests_by_protocol_total",
      "rawserve_bytes_received_total",
      "rawserve_bytes_sent_total",
      "rawserve_connections_open",
      "rawserve_connections_accepted_total",
      "rawserve_errors_total",
      "rawserve_open_fds",
      "rawserve_accept_queue_length",
      "rawserve_response_seconds",
    ]
  ) {
    const family = families.get(name);
    assert.ok(family, `${name} is exposed`);
    assert.ok(family.help, `${name} has HELP`);
    assert.notEqual(family.type, "untyped", `${name} has a TYPE`);
  }
  const requests = families.get("rawserve_requests_total")!.samples;
  assert.deepEqual(requests.map((s) => [s.labels.code, s.value]), [["200", 2], ["404", 1], ["500", 1]]);
  const byProtocol = families.get("rawserve_requests_by_protocol_total")!.samples;
  assert.deepEqual(byProtocol.map((s) => [s.labels.protocol, s.value]), [["h1", 1], ["h2", 3]]);
  assert.equal(families.get("rawserve_accept_queue_length")!.samples[0]!.value, 3);
  assert.equal(families.get("rawserve_files_kept")!.samples[0]!.value, 2);
});

Deno.test("WebSockets are counted: open, opened, messages and bytes by direction, closes by code", () => {
  const families = parsePrometheusText(renderMetrics(snapshot()));
  const values = (name: string) =>
    families.get(name)!.samples.map((s) => [s.labels.direction ?? s.labels.code ?? "", s.value]);
  assert.deepEqual(values("rawserve_websockets_open"), [["", 1]]);
  assert.deepEqual(values("rawserve_websockets_opened_total"), [["", 3]]);
  assert.deepEqual(values("rawserve_websocket_messages_total"), [["received", 7], ["sent", 5]]);
  assert.deepEqual(values("rawserve_websocket_bytes_total"), [["received", 700], ["sent", 500]]);
  assert.deepEqual(values("rawserve_websocket_closes_total"), [["1000", 1], ["1006", 1]]);
});

Deno.test("error kinds with quotes, backslashes and line feeds come back intact from their labels", () => {
  const errors = parsePrometheusText(renderMetrics(snapshot())).get("rawserve_errors_total")!.samples;
  assert.deepEqual(
    Object.fromEntries(errors.map((s) => [s.labels.kind, s.value])),
    { 'quote " and back\\slash': 1, "line\nbreak": 2, "http 400": 3 },
  );
});

Deno.test("the response histogram has cumulative buckets from 100 µs to 10 s, +Inf equal to _count", () => {
  const h = parsePrometheusText(renderMetrics(snapshot())).get("rawserve_response_seconds")!;
  assert.equal(h.type, "histogram");
  const buckets = h.samples.filter((s) => s.name.endsWith("_bucket"));
  assert.equal(buckets[0]!.labels.le, "0.0001");
  assert.equal(buckets.at(-2)!.labels.le, "10");
  assert.equal(buckets.at(-1)!.labels.le, "+Inf");
  assert.deepEqual(buckets.slice(0, 3).map((b) => b.value), [1, 1, 2], "0 ms, then 0.3 ms (<= 0.5 ms)");
  assert.equal(buckets.at(-2)!.value, 3, "20 s is above the largest bound");
  assert.equal(buckets.at(-1)!.value, 4);
  assert.equal(h.samples.find((s) => s.name.endsWith("_count"))!.value, 4);
  assert.ok(Math.abs(h.samples.find((s) => s.name.endsWith("_sum"))!.value - 20.0123) < 1e-9);
});

Deno.test("with --workers every sample says which worker answered", () => {
  const families = parsePrometheusText(renderMetrics(snapshot({ index: 1 })));
  for (const family of families.values()) {
    for (const s of family.samples) assert.equal(s.labels.worker, "1", `${s.name} has worker="1"`);
  }
});

Deno.test("renderGroupMetrics() parses strictly: the group's sums unlabelled, then each worker's series", () => {
  const a = snapshot({ index: 0 });
  const b = snapshot({ index: 1 });
  b.counters.requestsByStatus = { "200": 7, "301": 1 }; // a code only one worker has seen
  b.process.startTimeS = a.process.startTimeS - 5;
  b.draining = true;
  const families = parsePrometheusText(renderGroupMetrics([
    { index: 0, snapshot: a, ageS: 0 },
    { index: 1, snapshot: b, ageS: 0.4 },
  ]));
  const of = (name: string, worker?: string) =>
    families.get(name)!.samples.filter((s) => s.labels.worker === worker);
  assert.deepEqual(
    of("rawserve_requests_total").map((s) => [s.labels.code, s.value]),
    [["200", 9], ["301", 1], ["404", 1], ["500", 1]],
  );
  assert.equal(of("rawserve_requests_total", "1").length, 2);
  assert.equal(of("rawserve_bytes_sent_total")[0]!.value, 18000);
  assert.equal(of("rawserve_start_time_seconds")[0]!.value, b.process.startTimeS, "the earliest");
  assert.equal(of("rawserve_draining")[0]!.value, 1, "any worker draining");
  assert.equal(of("rawserve_max_fds").length, 0, "a per-process limit has no group value");
  assert.equal(of("rawserve_max_fds", "0")[0]!.value, 1024);
  const count = of("rawserve_response_seconds").find((s) => s.name.endsWith("_count"))!;
  assert.equal(count.value, 8, "histograms add bucket by bucket");
  assert.deepEqual(
    families.get("rawserve_worker_snapshot_age_seconds")!.samples.map((s) => [s.labels.worker, s.value]),
    [["0", 0], ["1", 0.4]],
  );
});

Deno.test("a draining server without a listener drops the accept-queue series and says it drains", () => {
  const s = { ...snapshot(), draining: true, listener: null };
  const families = parsePrometheusText(renderMetrics(s));
  assert.equal(families.has("rawserve_accept_queue_length"), false);
  assert.equal(families.get("rawserve_draining")!.samples[0]!.value, 1);
});

const VALID = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
const HISTOGRAM = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';

Deno.test("the strict parser accepts the format's own examples", () => {
  parsePrometheusText(VALID);
  parsePrometheusText(HISTOGRAM);
  const example =
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} ' +
    "1.458255915e9\nmetric_without_timestamp_and_labels 12.47\n" +
    'something_weird{problem="division by zero"} +Inf -3982045\n';
  const families = parsePrometheusText(example);
  assert.equal(
    families.get("msdos_file_access_time_seconds")!.samples[0]!.labels.error,
    'Cannot find file:\n"FILE.TXT"',
  );
  assert.equal(families.get("something_weird")!.samples[0]!.value, Infinity);
});

Deno.test("the strict parser rejects what the format forbids", () => {
  const bad: [string, string, RegExp][] = [
    ["no final line feed", "a 1", /last line/],
    ["a bad metric name", "1a 1\n", /bad metric name/],
    ["a bad escape in a label value", 'a{x="\\t"} 1\n', /invalid escape/],
    ["a reserved label name", 'a{__x="1"} 1\n', /reserved/],
    ["a label twice", 'a{x="1",x="2"} 1\n', /twice/],
    ["an unterminated label value", 'a{x="1} 1\n', /unterminated/],
    ["a value that is not a float", "a one\n", /not a float/],
    ["a second TYPE", "# TYPE a gauge\n# TYPE a gauge\na 1\n", /second TYPE/],
    ["a second HELP", "# HELP a x\n# HELP a y\na 1\n", /second HELP/],
    ["TYPE after samples", "a 1\n# TYPE a gauge\n", /after its samples/],
    ["an unknown type", "# TYPE a meter\na 1\n", /TYPE takes/],
    ["a split group", 'a 1\nb 1\na{x="1"} 2\n', /uninterrupted/],
    ["a duplicate series", "a 1\na 2\n", /twice/],
    ["a negative counter", "# TYPE c counter\nc -1\n", /cannot be -1/],
    ["a histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /must end/],
    ["+Inf unequal to _count", HISTOGRAM.replace("h_count 2", "h_count 3"), /differs from _count/],
    [
      "non-cumulative buckets",
      HISTOGRAM.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 0').replace("h_count 2", "h_count 0"),
      /not cumulative/,
    ],
    [
      "buckets out of order",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_bucket{le="1"} 2\nh_sum 3\nh_count 2\n',
      /not above/,
    ],
    ["a histogram without _sum", HISTOGRAM.replace("h_sum 3\n", ""), /needs _sum/],
    ["CRLF line ends", VALID.replaceAll("\n", "\r\n"), /alone/],
  ];
  for (const [why, text, reason] of bad) {
    assert.throws(
      () => parsePrometheusText(text),
      (e) => e instanceof PromParseError && reason.test(e.message),
      why,
    );
  }
});
