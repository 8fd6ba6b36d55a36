// The status page's HTML: every section present, every field explained, hostile strings
// escaped, a bounded table note, and the worker it came from.

import assert from "node:assert/strict";
import { formatAge, renderStatusPage } from "../../../app/operator/status_page.ts";
import { escapeHtml } from "../../../http/format.ts";
import type { ConnectionRow, StatusSnapshot, WebSocketRow } from "../../../app/operator/server_status.ts";

function row(peer: string, phase = "writing", h2 = false): ConnectionRow {
  return {
    fd: 30,
    peer,
    via: null,
    protocol: h2 ? "h2" : "h1",
    streams: h2 ? { open: 7, sendWindow: 65_535, receiveWindow: 1 << 20 } : null,
    phase,
    ageMs: 65_000,
    requests: 3,
    pendingBytes: 1 << 20,
    tcp: {
      state: "ESTABLISHED",
      rttUs: 40,
      rttVarUs: 20,
      minRttUs: 30,
      cwnd: 10,
      ssthresh: 0x7fffffff,
      retransmits: 0,
      totalRetrans: 2,
      unacked: 4,
      pmtu: 65535,
      mss: 32768,
      rcvSpace: 65483,
      notsentBytes: 1000,
      bytesAcked: 10,
      bytesReceived: 100,
    },
    queued: { in: 0, out: 2_500_000 },
    buffers: { snd: 4 << 20, rcv: 128 << 10 },
  };
}

function wsRow(peer: string): WebSocketRow {
  return {
    fd: 31,
    peer,
    phase: "open, blocked",
    ageMs: 5_000,
    messagesIn: 12,
    messagesOut: 3400,
    bytesIn: 900,
    bytesOut: 2_000_000,
    extensions: "permessage-deflate; server_no_context_takeover",
    queuedBytes: 1_500_000,
  };
}

function snapshot(
  rows: ConnectionRow[],
  total = rows.length,
  webSockets: WebSocketRow[] = [],
): StatusSnapshot {
  return {
    process: { pid: 4242, uptimeS: 3700, startTimeS: 1, rssBytes: 48 << 20, openFds: 30, fdLimit: 1024 },
    worker: { index: 1 },
    draining: false,
    listener: { backlog: 4096, acceptQueue: 2 },
    reactor: { batches: 10, waits: 40, blockingWaits: 5, yields: 39, spinBudget: 8 },
    counters: {
      accepted: 9,
      open: rows.length,
      requests: 20,
      requestsByStatus: { "200": 18, "404": 1 },
      requestsByProtocol: { h1: 4, h2: 15 },
      bytesIn: 2000,
      bytesOut: 5_000_000,
      filesOpen: 1,
      filesKept: 0,
      errors: { "<script>alert(1)</script>": 1 },
      clientsLeft: { ECONNRESET: 2 },
    },
    responseSeconds: { buckets: [{ le: 0.0001, count: 18 }, { le: "+Inf", count: 19 }], sum: 2, count: 19 },
    system: { sockets: { used: 100 }, TCP: { inuse: 10, orphan: 0, tw: 3, alloc: 12, mem: 4 } },
    connections: { total, shown: rows.length, rows },
    webSockets: {
      totals: {
        opened: webSockets.length,
        open: webSockets.length,
        messagesIn: 12,
        messagesOut: 3400,
        bytesIn: 900,
        bytesOut: 2_000_000,
        closes: webSockets.length ? { "1000": 4, "1006": 1 } : {},
      },
      shown: webSockets.length,
      rows: webSockets,
    },
  };
}

Deno.test("the page has every section, explains each field, and names the worker that answered", () => {
  const html = renderStatusPage(snapshot([row("127.0.0.1:5000")]));
  for (
    const words of [
      "Process",
      "Listener",
      "accept queue",
      "Requests",
      "Response time",
      "Reactor",
      "spin budget",
      "Kernel, whole machine",
      "Connections",
      "SIOCOUTQ",
      "TCP_INFO",
      "worker 1 answered: each worker answers for itself",
      "2 <small>of 4,096</small>",
      "∞",
      "2.4 MiB",
    ]
  ) {
    assert.ok(html.includes(words), `the page shows ${words}`);
  }
  assert.equal((html.match(/class="why"/g) ?? []).length >= 30, true, "a line of explanation per field");
  assert.match(html, /<meta name="viewport"/);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "nothing loaded from elsewhere");
});

Deno.test("an h2 connection's row shows its protocol, open streams and both windows; h1 rows show none", () => {
  const html = renderStatusPage(snapshot([row("127.0.0.1:5000"), row("127.0.0.1:5001", "busy", true)]));
  assert.match(html, /<td data-label="proto"><span>h2<\/span>/);
  assert.match(html, /<td data-label="proto"><span>h1<\/span>/);
  assert.match(html, /<td data-label="streams"><span>7 <small>↑ 64(\.0)? KiB ↓ 1(\.0)? MiB<\/small>/);
  assert.match(html, /<td data-label="streams"><span>–<\/span>/);
  assert.match(html, /h1 × 4<\/span> <span class="chip">h2 × 15/);
});

Deno.test("WebSockets have their table: phase, messages and bytes each way, extensions, queued bytes, closes", () => {
  const html = renderStatusPage(snapshot([], 0, [wsRow("127.0.0.1:6000")]));
  const section = html.slice(html.indexOf('id="websockets"'));
  for (
    const words of [
      "WebSockets",
      "open, blocked",
      "12 <small>/ 3,400</small>",
      "permessage-deflate; server_no_context_takeover",
      "127.0.0.1:6000",
      "1000 × 4",
      "1006 × 1",
      'class="hot"',
    ]
  ) assert.ok(section.includes(words), `shows ${words}`);
  assert.ok(
    !renderStatusPage(snapshot([])).includes('id="websockets"'),
    "no section before the first WebSocket",
  );
});

Deno.test("peer addresses and error kinds are escaped, never markup", () => {
  const html = renderStatusPage(snapshot([row('"><img src=x onerror=alert(1)>')]));
  assert.ok(!html.includes("<img"));
  assert.ok(!html.includes("<script>alert"));
  assert.ok(html.includes(escapeHtml("<script>alert(1)</script>")));
});

Deno.test("a bounded table says how many connections it shows of how many", () => {
  const html = renderStatusPage(snapshot([row("127.0.0.1:1"), row("127.0.0.1:2")], 5000));
  assert.match(html, /the 2 shown are the oldest and those with the most requests, of 5,000/);
});

Deno.test("formatAge() reads at a glance", () => {
  assert.equal(formatAge(850), "850 ms");
  assert.equal(formatAge(12_400), "12 s");
  assert.equal(formatAge(184_000), "3 min 4 s");
  assert.equal(formatAge(7_500_000), "2 h 5 min");
  assert.equal(formatAge(273_600_000), "3 d 4 h");
});
