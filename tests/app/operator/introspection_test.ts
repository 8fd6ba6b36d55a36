// The operator's paths as a handler wrapper: which peers count as loopback, routing before the
// site's handler, the health answer while draining, and the status page refused to other peers
// (its content negotiation is tested in tests/http/negotiation_test.ts).

import assert from "node:assert/strict";
import { isLoopbackAddress, isLoopbackHost, withIntrospection } from "../../../app/operator/introspection.ts";
import type { StatusSource } from "../../../app/operator/server_status.ts";
import { ResponseMetrics } from "../../../app/operator/response_metrics.ts";
import { RequestHead } from "../../../http/request_head.ts";
import type { Handler, HttpRequest, HttpResponse } from "../../../http/types.ts";

Deno.test("isLoopbackAddress() takes 127.0.0.0/8, ::1 and IPv4-mapped loopback, nothing else", () => {
  const loopback = [
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.254",
    "::1",
    "0:0:0:0:0:0:0:1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1", // how getpeername's bytes for ::ffff:127.0.0.1 are written by decodeSockaddr
    "::ffff:7f12:3456",
  ];
  const others = [
    "128.0.0.1",
    "126.255.255.255",
    "10.0.0.1",
    "192.168.1.1",
    "0.0.0.0",
    "::",
    "::2",
    "::1:0",
    "fe80::1",
    "::ffff:10.0.0.1",
    "::ffff:8000:1",
    "::127.0.0.1", // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1): not loopback
    "64:ff9b::7f00:1", // NAT64 of 127.0.0.1 comes from elsewhere
    "-",
    "",
    "127.0.0.1.evil",
    "127.0.0",
  ];
  for (const a of loopback) assert.equal(isLoopbackAddress(a), true, a);
  for (const a of others) assert.equal(isLoopbackAddress(a), false, a);
});

Deno.test("isLoopbackHost() takes localhost, names beneath it and loopback addresses, with or without a port", () => {
  const loopback = [
    "localhost",
    "LocalHost:8080",
    "localhost.",
    "app.localhost",
    "a.b.localhost:1",
    "127.0.0.1",
    "127.0.0.1:8080",
    "127.255.0.9",
    "[::1]",
    "[::1]:8080",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]:80",
  ];
  const others = [
    "",
    "evil.example",
    "evil.example:8080",
    "localhost.evil.example",
    "notlocalhost",
    "127.0.0.1.nip.io",
    "128.0.0.1",
    "10.0.0.1:8080",
    "[::2]",
    "[::1",
    "0.0.0.0",
    "[::]",
    "local%68ost",
  ];
  for (const h of loopback) assert.equal(isLoopbackHost(h), true, h);
  for (const h of others) assert.equal(isLoopbackHost(h), false, h);
});

function request(
  path: string,
  options: { method?: string; peer?: string; accept?: string; host?: string } = {},
): HttpRequest {
  const head = new RequestHead();
  head.method = options.method ?? "GET";
  head.path = head.target = path;
  head.host = options.host ?? "localhost:8080";
  if (options.accept) head.headers = ["accept", options.accept];
  const peer = { remoteAddress: () => options.peer ?? "127.0.0.1", remotePort: () => 40000 };
  return { head, body: null, peer, observer: null };
}

function source(draining = false): StatusSource {
  return {
    stats: {
      accepted: 1,
      open: 1,
      requests: 1,
      bytesIn: 10,
      bytesOut: 20,
      filesOpen: 0,
      answersAwaited: 0,
      errors: {},
      clientsLeft: {},
    },
    reactor: {
      counters: { waits: 1, blockingWaits: 0, macrotaskYields: 1, batches: 1 },
      spinBudget: 16,
      now: () => performance.now(),
    },
    responseMetrics: new ResponseMetrics(),
    draining,
    listenerFd: -1,
    connections: () => [],
  };
}

const SITE: Handler = () => ({ status: 200, body: "site" });

function text(response: HttpResponse | Promise<HttpResponse>): string {
  assert.ok(!(response instanceof Promise));
  return String(response.body);
}

function status(response: HttpResponse | Promise<HttpResponse>): number {
  assert.ok(!(response instanceof Promise));
  return response.status;
}

const PATHS = { statusPath: "/status", metricsPath: "/metrics", healthPath: "/health" };

Deno.test("the paths are answered before the site, with or without a query; anything else is the site's", () => {
  const handler = withIntrospection(SITE, PATHS, source());
  assert.equal(text(handler(request("/health"))), "ok\n");
  assert.equal(text(handler(request("/health?probe=1"))), "ok\n");
  assert.match(text(handler(request("/metrics"))), /^# HELP /);
  assert.equal(text(handler(request("/healthz"))), "site");
  assert.equal(text(handler(request("/health/x"))), "site");
  assert.equal(text(handler(request("/"))), "site");
  assert.equal(withIntrospection(SITE, {}, source()), SITE, "no paths: the site's handler itself");
});

Deno.test("health is 200 ok while serving and 503 while draining", () => {
  assert.equal(status(withIntrospection(SITE, PATHS, source(false))(request("/health"))), 200);
  const draining = withIntrospection(SITE, PATHS, source(true))(request("/health"));
  assert.equal(status(draining), 503);
  assert.equal(text(draining), "draining\n");
});

Deno.test("the status page refuses peers that are not loopback unless --status-public", () => {
  const handler = withIntrospection(SITE, PATHS, source());
  for (const peer of ["10.0.0.7", "192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "-"]) {
    const response = handler(request("/status", { peer }));
    assert.equal(status(response), 403, peer);
    assert.match(text(response), /--status-public/);
  }
  assert.equal(status(handler(request("/status", { peer: "::ffff:7f00:1" }))), 200);
  const open = withIntrospection(SITE, { ...PATHS, statusPublic: true }, source());
  assert.equal(status(open(request("/status", { peer: "192.0.2.1" }))), 200);
  // DNS rebinding: a loopback peer, but a page of another name.
  const rebound = handler(request("/status", { host: "rebind.example:8080" }));
  assert.equal(status(rebound), 403);
  assert.match(text(rebound), /localhost.*--status-public/);
  assert.equal(status(open(request("/status", { host: "rebind.example:8080" }))), 200);
  assert.equal(status(handler(request("/metrics", { host: "rebind.example" }))), 200, "metrics are public");
  assert.equal(status(handler(request("/metrics", { peer: "192.0.2.1" }))), 200, "metrics are for scrapers");
  assert.equal(status(handler(request("/health", { peer: "192.0.2.1" }))), 200, "health is for balancers");
});

Deno.test("the status page is HTML for browsers and JSON for Accept: application/json", () => {
  const handler = withIntrospection(SITE, PATHS, source());
  const html = handler(request("/status"));
  assert.match(text(html), /^<!doctype html>/);
  const json = JSON.parse(text(handler(request("/status", { accept: "application/json" }))));
  assert.deepEqual(Object.keys(json), [
    "process",
    "worker",
    "draining",
    "listener",
    "reactor",
    "counters",
    "responseSeconds",
    "system",
    "connections",
    "webSockets",
  ]);
});

Deno.test("methods other than GET and HEAD get 405 with Allow on every path", () => {
  const handler = withIntrospection(SITE, PATHS, source());
  for (const path of ["/status", "/metrics", "/health"]) {
    const response = handler(request(path, { method: "POST" }));
    assert.equal(status(response), 405);
    assert.ok(!(response instanceof Promise));
    assert.deepEqual((response.headers as string[]).slice(-2), ["Allow", "GET, HEAD"]);
  }
});
