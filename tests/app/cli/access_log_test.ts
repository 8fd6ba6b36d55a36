// The access log writes Common Log Format lines straight into bytes: they must be exactly the
// lines formatClf() describes, batched, whatever their length.

import assert from "node:assert/strict";
import { AccessLog, formatClf, LOG_BATCH_BYTES } from "../../../app/cli/access_log.ts";
import { RequestHead } from "../../../http/request_head.ts";

const NOW = Date.UTC(2026, 10, 25, 9, 5, 7); // one fixed second for every line of a test

function head(method: string, target: string, minor: number): RequestHead {
  const h = new RequestHead();
  h.method = method;
  h.target = h.path = target;
  h.minor = minor;
  return h;
}

Deno.test("AccessLog.record() writes the very lines formatClf() describes", () => {
  const batches: Uint8Array[] = [];
  const log = new AccessLog((bytes) => batches.push(bytes), () => NOW);
  const cases: [string, RequestHead | null, number, number][] = [
    ["127.0.0.1", head("GET", "/", 1), 200, 688],
    ["::1", head("HEAD", "/a%20b?x=1&y=%22", 0), 304, 0],
    ["10.0.0.255", null, 400, 31],
    ["2001:db8::1", head("POST", "/upload", 1), 413, 1234567890],
    ["127.0.0.1", Object.assign(head("GET", "/h2", 0), { major: 2 }), 200, 5],
    ["127.0.0.1", head("GET", '/x"_200_5_"-"_"forged\\\x01\xe9', 1), 404, 14],
  ];
  for (const [remote, h, status, bytes] of cases) log.record(remote, h, status, bytes);
  log.flush();
  const expected = cases.map(([remote, h, status, bytes]) => formatClf(remote, h, status, bytes, NOW) + "\n")
    .join("");
  assert.equal(batches.length, 1);
  assert.equal(new TextDecoder().decode(batches[0]), expected);
  assert.match(expected, /"GET \/h2 HTTP\/2\.0" 200 5\n/, "a request over HTTP/2 is logged as HTTP/2.0");
  assert.match(expected, /"GET \/x\\x22_200_5_\\x22-\\x22_\\x22forged\\x5C\\x01\\xE9 HTTP\/1\.1" 404 14\n$/);
  log.flush();
  assert.equal(batches.length, 1, "an empty flush writes nothing");
});

Deno.test("AccessLog hands over a batch once it is full, and takes lines longer than a batch", () => {
  const batches: Uint8Array[] = [];
  const log = new AccessLog((bytes) => batches.push(bytes), () => NOW);
  const line = (i: number) => formatClf("127.0.0.1", head("GET", `/${i}`, 1), 200, i, NOW) + "\n";
  let i = 0, written = "";
  while (batches.length === 0) {
    log.record("127.0.0.1", head("GET", `/${i}`, 1), 200, i);
    written += line(i++);
  }
  assert.ok(batches[0]!.length >= LOG_BATCH_BYTES, "handed over at the batch size");
  const long = "/" + "x".repeat(3 * LOG_BATCH_BYTES);
  log.record("127.0.0.1", head("GET", long, 1), 200, 1);
  written += formatClf("127.0.0.1", head("GET", long, 1), 200, 1, NOW) + "\n";
  log.flush();
  assert.equal(batches.map((b) => new TextDecoder().decode(b)).join(""), written, "every line, in order");
});
