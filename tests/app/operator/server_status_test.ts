// The pure parts of a snapshot: which connections become rows, and /proc/net/sockstat parsed.

import assert from "node:assert/strict";
import { parseSockstat, pickRows } from "../../../app/operator/server_status.ts";
import { ResponseMetrics } from "../../../app/operator/response_metrics.ts";
import { readProcText } from "../../../ffi/procfs.ts";

Deno.test("pickRows() keeps the n oldest, then the n heaviest of the rest, heaviest first", () => {
  const items = Array.from({ length: 1000 }, (_, i) => ({ id: i, weight: (i * 7919) % 1000 }));
  const rows = pickRows(items, 5, (x) => x.weight);
  assert.deepEqual(rows.slice(0, 5).map((x) => x.id), [0, 1, 2, 3, 4]);
  const rest = items.slice(5).sort((a, b) => b.weight - a.weight).slice(0, 5);
  assert.deepEqual(rows.slice(5).map((x) => x.weight), rest.map((x) => x.weight));
  assert.equal(rows.length, 10);
});

Deno.test("pickRows() shows everything when there are few, and nothing for n = 0", () => {
  assert.deepEqual(pickRows([1, 2, 3], 2, (x) => x), [1, 2, 3]);
  assert.deepEqual(pickRows([1, 2], 5, (x) => x), [1, 2]);
  assert.deepEqual(pickRows([1, 2, 3], 0, (x) => x), []);
});

Deno.test("parseSockstat() reads each line's name and its key/value pairs", () => {
  const text = "sockets: used 147\nTCP: inuse 111 orphan 0 tw 77 alloc 111 mem 125\nUDP: inuse 3 mem 2\n" +
    "UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
  const parsed = parseSockstat(text);
  assert.deepEqual(parsed.sockets, { used: 147 });
  assert.deepEqual(parsed.TCP, { inuse: 111, orphan: 0, tw: 77, alloc: 111, mem: 125 });
  assert.deepEqual(parsed.FRAG, { inuse: 0, memory: 0 });
  assert.ok(parseSockstat(readProcText("/proc/net/sockstat")!).TCP, "this machine's has a TCP line");
});

Deno.test("ResponseMetrics counts a time at a bucket's bound in that bucket (le is <=)", () => {
  const m = new ResponseMetrics();
  m.record(200, 0.1, "h1"); // exactly 100 µs
  m.record(200, 0.1001, "h2");
  m.record(204, 10_000, "h1"); // exactly 10 s
  m.record(999, 10_001, "h1");
  m.record(200, -1, "h2");
  const b = m.cumulativeBuckets();
  assert.equal(b[0]!.count, 2, "0.1 ms and the clamped -1 ms");
  assert.equal(b[1]!.count, 3);
  assert.equal(b.at(-2)!.count, 4);
  assert.deepEqual(b.at(-1), { le: Infinity, count: 5 });
  assert.deepEqual(m.statusCounts(), { other: 1, 200: 3, 204: 1 });
  assert.equal(m.count, 5);
  assert.deepEqual(m.protocolCounts(), { h1: 3, h2: 2 });
});
