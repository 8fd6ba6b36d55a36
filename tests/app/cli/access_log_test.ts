// The access log writes its lines straight into bytes: they must be exactly the lines
// formatLogLine() describes, in each format, batched, whatever their length.

import assert from "node:assert/strict";
import {
  AccessLog,
  formatLogLine,
  LOG_BATCH_BYTES,
  LOG_FORMATS,
  type LogEntry,
} from "../../../app/cli/access_log.ts";
import { RequestHead } from "../../../http/request_head.ts";

const NOW = Date.UTC(2026, 10, 25, 9, 5, 7); // one fixed second for every line of a test

function head(method: string, target: string, minor: number): RequestHead {
  const h = new RequestHead();
  h.method = method;
  h.target = h.path = target;
  h.minor = minor;
  return h;
}

function entry(remote: string, h: RequestHead | null, status: number, bytes: number, ms = 0): LogEntry {
  return { remote, head: h, status, bytes, ms, complete: true };
}

const withAgent = head("GET", "/page", 1);
withAgent.headers = ["referer", 'https://a.example/"x"', "user-agent", "curl/8.5.0"];

const CASES: LogEntry[] = [
  entry("127.0.0.1", head("GET", "/", 1), 200, 688, 0.4),
  entry("::1", head("HEAD", "/a%20b?x=1&y=%22", 0), 304, 0, 12.5),
  entry("10.0.0.255", null, 400, 31, 1999.6),
  entry("2001:db8::1", head("POST", "/upload", 1), 413, 1234567890, 61_234),
  entry("127.0.0.1", head("GET", '/x"_200_5_"-"_"forged\\\x01\xe9', 1), 404, 14),
  entry("127.0.0.1", withAgent, 200, 4_194_304, 7),
  entry("127.0.0.1", Object.assign(head("GET", "/h2", 0), { major: 2 }), 200, 5),
  {
    ...entry("127.0.0.1", head("GET", "/chat", 1), 101, 5120, 62_500),
    webSocket: { code: 1001, bytesIn: 777 },
  },
  // Byte counts and times around each digit count and the int32 edge (record() writes numbers
  // below 100000 on a shorter path).
  ...[10, 99, 100, 9_999, 10_000, 99_999, 100_000, 2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1].map((
    bytes,
  ) => entry("127.0.0.1", head("GET", "/n", 1), 200, bytes, bytes % 100_000_000)),
  { ...entry("127.0.0.1", head("GET", "/private/", 1), 200, 9), user: "alice" },
  { ...entry("127.0.0.1", head("GET", "/private/", 1), 200, 9), user: 'jü"rgen x' },
];

for (const format of LOG_FORMATS) {
  Deno.test(`AccessLog.record() writes the very lines formatLogLine() describes (${format})`, () => {
    const batches: Uint8Array[] = [];
    const log = new AccessLog((bytes) => batches.push(bytes), () => NOW, format);
    for (const e of CASES) log.record(e);
    log.flush();
    const expected = CASES.map((e) => formatLogLine(e, format, NOW) + "\n").join("");
    assert.equal(batches.length, 1);
    assert.equal(new TextDecoder().decode(batches[0]), expected);
    log.flush();
    assert.equal(batches.length, 1, "an empty flush writes nothing");
  });
}

Deno.test("log lines escape what could forge a field, and end with the request time in seconds", () => {
  const line = (i: number, format: "common" | "combined") => formatLogLine(CASES[i]!, format, NOW);
  assert.match(
    line(4, "common"),
    /"GET \/x\\x22_200_5_\\x22-\\x22_\\x22forged\\x5C\\x01\\xE9 HTTP\/1\.1" 404 14 0\.000$/,
  );
  assert.equal(
    line(0, "common"),
    '127.0.0.1 - - [25/Nov/2026:09:05:07 +0000] "GET / HTTP/1.1" 200 688 0.000',
  );
  assert.match(line(1, "common"), /" 304 - 0\.013$/);
  assert.match(line(2, "common"), /"-" 400 31 2\.000$/);
  assert.match(line(3, "common"), /" 413 1234567890 61\.234$/);
  assert.match(
    line(5, "combined"),
    /" 200 4194304 "https:\/\/a\.example\/\\x22x\\x22" "curl\/8\.5\.0" 0\.007$/,
  );
  assert.match(line(0, "combined"), /" 200 688 "-" "-" 0\.000$/);
  assert.match(
    line(6, "common"),
    /"GET \/h2 HTTP\/2\.0" 200 5 0\.000$/,
    "a request over HTTP/2 is logged as HTTP/2.0",
  );
  assert.match(
    line(7, "common"),
    /"GET \/chat HTTP\/1\.1" 101 5120 62\.500 ws-close=1001 ws-in=777$/,
    "a WebSocket's closing line: bytes sent, its life, the close code, bytes received",
  );
  assert.deepEqual(JSON.parse(formatLogLine(CASES[7]!, "json", NOW)).webSocket, {
    close: 1001,
    bytesIn: 777,
  });
  const json = JSON.parse(formatLogLine({ ...CASES[5]!, complete: false }, "json", NOW));
  assert.deepEqual(json, {
    time: "2026-11-25T09:05:07.000Z",
    remote: "127.0.0.1",
    method: "GET",
    target: "/page",
    protocol: "HTTP/1.1",
    status: 200,
    bytes: 4194304,
    ms: 7,
    complete: false,
    user: null,
    referer: 'https://a.example/"x"',
    userAgent: "curl/8.5.0",
  });
});

Deno.test("AccessLog hands over a batch once it is full, and takes lines longer than a batch", () => {
  const batches: Uint8Array[] = [];
  const log = new AccessLog((bytes) => batches.push(bytes), () => NOW);
  const line = (i: number) =>
    formatLogLine(entry("127.0.0.1", head("GET", `/${i}`, 1), 200, i), "common", NOW) + "\n";
  let i = 0, written = "";
  while (batches.length === 0) {
    log.record(entry("127.0.0.1", head("GET", `/${i}`, 1), 200, i));
    written += line(i++);
  }
  assert.ok(batches[0]!.length >= LOG_BATCH_BYTES, "handed over at the batch size");
  const long = "/" + "x".repeat(3 * LOG_BATCH_BYTES);
  log.record(entry("127.0.0.1", head("GET", long, 1), 200, 1));
  written += formatLogLine(entry("127.0.0.1", head("GET", long, 1), 200, 1), "common", NOW) + "\n";
  log.flush();
  assert.equal(batches.map((b) => new TextDecoder().decode(b)).join(""), written, "every line, in order");
});

Deno.test("the user --auth-file let in is CLF's third field, escaped as UTF-8 bytes, and JSON's user", () => {
  const alice = CASES.at(-2)!;
  const jurgen = CASES.at(-1)!;
  assert.match(
    formatLogLine(alice, "common", NOW),
    /^127\.0\.0\.1 - alice \[25\/Nov\/2026:09:05:07 \+0000\] "GET /,
  );
  assert.match(formatLogLine(jurgen, "common", NOW), /^127\.0\.0\.1 - j\\xC3\\xBC\\x22rgen x \[/);
  assert.equal(JSON.parse(formatLogLine(jurgen, "json", NOW)).user, 'jü"rgen x');
  assert.equal(JSON.parse(formatLogLine(CASES[0]!, "json", NOW)).user, null);
  assert.match(formatLogLine(CASES[0]!, "common", NOW), /^127\.0\.0\.1 - - \[/);
});
