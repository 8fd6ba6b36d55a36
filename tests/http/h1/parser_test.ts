// parseRequestHead(): table-driven. Every valid case is also fed at every split offset, and
// every case is parsed from a view inside a larger buffer with garbage past `end`.

import assert from "node:assert/strict";
import { INCOMPLETE, MAX_HEAD_BYTES, parseRequestHead } from "../../../http/h1/parser.ts";
import { RequestHead } from "../../../http/request_head.ts";
import { HttpError } from "../../../http/status.ts";

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Places `input` at offset 7 of a buffer whose other bytes are garbage that looks like HTTP. */
function embedded(input: Uint8Array): { buf: Uint8Array; start: number; end: number } {
  const garbage = bytes("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const buf = new Uint8Array(7 + input.length + 64);
  for (let i = 0; i < buf.length; i++) buf[i] = garbage[i % garbage.length]!;
  buf.set(input, 7);
  return { buf, start: 7, end: 7 + input.length };
}

type Verdict = number | { status: number };

function verdict(buf: Uint8Array, start: number, end: number, head = new RequestHead()): Verdict {
  try {
    return parseRequestHead(buf, start, end, head);
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status };
    throw e;
  }
}

interface Valid {
  name: string;
  input: string;
  method: string;
  target?: string;
  path?: string;
  minor?: number;
  host?: string;
  keepAlive?: boolean;
  contentLength?: number;
  chunked?: boolean;
  expectContinue?: boolean;
  headers?: string[];
}

const VALID: Valid[] = [
  { name: "simple GET", input: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET", target: "/", host: "a" },
  {
    name: "HEAD with query",
    input: "HEAD /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    method: "HEAD",
    target: "/x?y=1",
    path: "/x?y=1",
  },
  {
    name: "POST with Content-Length",
    input: "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    method: "POST",
    contentLength: 5,
  },
  {
    name: "chunked",
    input: "PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
    method: "PUT",
    chunked: true,
  },
  {
    name: "absolute-form takes its host from the target",
    input: "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
    method: "GET",
    path: "/p?q",
    host: "example.com:8080",
  },
  { name: "asterisk-form", input: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", target: "*" },
  {
    name: "HTTP/1.0 without Host",
    input: "GET / HTTP/1.0\r\n\r\n",
    method: "GET",
    minor: 0,
    keepAlive: false,
  },
  {
    name: "HTTP/1.0 keep-alive",
    input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    method: "GET",
    minor: 0,
    keepAlive: true,
  },
  {
    name: "Connection: close",
    input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n",
    method: "GET",
    keepAlive: false,
  },
  { name: "leading empty lines", input: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", method: "GET" },
  {
    name: "obs-text and OWS trimming",
    input: "GET / HTTP/1.1\r\nHost: a\r\nX-T: \t caf\xe9 \t\r\n\r\n",
    method: "GET",
    headers: ["host", "a", "x-t", "caf\xe9"],
  },
  {
    name: "identical Content-Length list",
    input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
    method: "POST",
    contentLength: 5,
  },
  {
    name: "names are lower-cased, empty values kept",
    input: "GET / HTTP/1.1\r\nHOST: a\r\nX-Empty:\r\n\r\n",
    method: "GET",
    headers: ["host", "a", "x-empty", ""],
  },
  {
    name: "HTTP/1.2 is answered as 1.1",
    input: "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    method: "GET",
    minor: 1,
  },
  {
    name: "Expect: 100-continue",
    input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n",
    method: "POST",
    contentLength: 1,
    expectContinue: true,
  },
  {
    name: "DELETE and PATCH",
    input: "PATCH /r HTTP/1.1\r\nHost: a\r\n\r\n",
    method: "PATCH",
  },
  {
    name: "Host forms: IPv6 literal with a port",
    input: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    method: "GET",
    host: "[::1]:8080",
  },
  { name: "Host: IPv4 and port", input: "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", method: "GET" },
  { name: "Host: reg-name characters", input: "GET / HTTP/1.1\r\nHost: a-b.c_d~%41\r\n\r\n", method: "GET" },
  { name: "Host: empty value", input: "GET / HTTP/1.1\r\nHost:\r\n\r\n", method: "GET", host: "" },
  {
    name: "CONNECT authority-form (RFC 9112 §3.2.3)",
    input: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    method: "CONNECT",
    target: "example.com:443",
    path: "",
  },
  {
    name: "absolute-form with a query and no path",
    input: "GET http://a?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    method: "GET",
    path: "/?q=1",
    host: "a",
  },
  {
    name: "eight empty lines first (the limit)",
    input: `${"\r\n".repeat(8)}GET / HTTP/1.1\r\nHost: a\r\n\r\n`,
    method: "GET",
  },
];

Deno.test("parseRequestHead() parses every valid case whole, embedded and split at every offset", () => {
  for (const c of VALID) {
    const input = bytes(c.input);
    const { buf, start, end } = embedded(input);
    const head = new RequestHead();
    assert.equal(parseRequestHead(buf, start, end, head), input.length, c.name);
    assert.equal(head.method, c.method, c.name);
    if (c.target !== undefined) assert.equal(head.target, c.target, c.name);
    if (c.path !== undefined) assert.equal(head.path, c.path, c.name);
    assert.equal(head.minor, c.minor ?? 1, c.name);
    if (c.host !== undefined) assert.equal(head.host, c.host, c.name);
    assert.equal(head.keepAlive, c.keepAlive ?? true, c.name);
    assert.equal(head.contentLength, c.contentLength ?? -1, c.name);
    assert.equal(head.chunked, c.chunked ?? false, c.name);
    assert.equal(head.expectContinue, c.expectContinue ?? false, c.name);
    if (c.headers) assert.deepEqual(head.headers, c.headers, c.name);
    for (let split = 0; split < input.length; split++) {
      const prefix = embedded(input.subarray(0, split));
      assert.equal(
        verdict(prefix.buf, prefix.start, prefix.end),
        INCOMPLETE,
        `${c.name}: prefix of ${split}`,
      );
    }
  }
});

Deno.test("parseRequestHead() stops at the end of the head so pipelined requests follow", () => {
  const two = bytes("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  const head = new RequestHead();
  const first = parseRequestHead(two, 0, two.length, head);
  assert.equal(head.target, "/a");
  assert.equal(parseRequestHead(two, first, two.length, head), two.length - first);
  assert.equal(head.target, "/b");
});

const INVALID: [string, string, number][] = [
  ["missing Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400],
  ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400],
  ["whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400],
  ["tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400],
  ["obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400],
  ["NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400],
  ["DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400],
  ["bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400],
  ["NUL in target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["raw 8-bit byte in target", "GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", 400],
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
  ["malformed version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400],
  ["lowercase protocol", "GET / http/1.1\r\nHost: a\r\n\r\n", 400],
  ["HTTP/0.9", "GET /\r\n\r\n", 400],
  ["unknown method", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501],
  ["lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 501],
  ["CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
  ["differing CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400],
  [
    "two differing CL fields",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    400,
  ],
  ["signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400],
  ["hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400],
  ["empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400],
  ["TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
  ["TE chunked then gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
  ["TE gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
  ["TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400],
  ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
  ["unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n", 417],
  ["asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["authority-form", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["userinfo in absolute-form", "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["userinfo without password", "GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["absolute-form without host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["absolute-form with a bad port", "GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["too many empty lines first", `${"\r\n".repeat(9)}GET / HTTP/1.1\r\nHost: a\r\n\r\n`, 400],
  ["space in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
  ["slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
  ["non-numeric Host port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400],
  ["Host port too large", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400],
  ["unclosed IPv6 bracket in Host", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400],
  ["junk after IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400],
  ["bad percent-escape in Host", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400],
  ["userinfo in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400],
  ["CONNECT without port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400],
  ["CONNECT in origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400],
  ["request line too long", `GET /${"a".repeat(MAX_HEAD_BYTES)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
  ["header section too large", `GET / HTTP/1.1\r\nHost: a\r\nX: ${"b".repeat(MAX_HEAD_BYTES)}\r\n\r\n`, 431],
  ["101 fields", `GET / HTTP/1.1\r\nHost: a\r\n${"X: 1\r\n".repeat(100)}\r\n`, 431],
];

Deno.test("parseRequestHead() refuses invalid requests with their status, at every split", () => {
  for (const [name, text, status] of INVALID) {
    const input = bytes(text);
    const { buf, start, end } = embedded(input);
    assert.deepEqual(verdict(buf, start, end), { status }, name);
    // A prefix is either still incomplete or already refused with the same status.
    for (let split = 0; split < input.length; split += input.length > 600 ? 97 : 1) {
      const prefix = embedded(input.subarray(0, split));
      const v = verdict(prefix.buf, prefix.start, prefix.end);
      if (v !== INCOMPLETE) assert.deepEqual(v, { status }, `${name}: prefix of ${split}`);
    }
  }
});

Deno.test("parseRequestHead() refuses an oversized head before it ends", () => {
  const noLineEnd = embedded(bytes(`GET /${"a".repeat(MAX_HEAD_BYTES + 10)}`));
  assert.deepEqual(verdict(noLineEnd.buf, noLineEnd.start, noLineEnd.end), { status: 414 });
  const noHeadEnd = embedded(bytes(`GET / HTTP/1.1\r\nHost: a\r\nX: ${"b".repeat(MAX_HEAD_BYTES + 10)}`));
  assert.deepEqual(verdict(noHeadEnd.buf, noHeadEnd.start, noHeadEnd.end), { status: 431 });
  const http09 = embedded(bytes("GET /\r\n"));
  assert.deepEqual(
    verdict(http09.buf, http09.start, http09.end),
    { status: 400 },
    "no wait for a head that never comes",
  );
});

Deno.test("parseRequestHead() accepts a head of exactly the limit", () => {
  const base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
  const text = base.replace("X: ", "X: " + "v".repeat(MAX_HEAD_BYTES - base.length));
  assert.equal(text.length, MAX_HEAD_BYTES);
  const { buf, start, end } = embedded(bytes(text));
  assert.equal(verdict(buf, start, end), MAX_HEAD_BYTES);
});

Deno.test("parseRequestHead() reads Accept-Encoding right whether its value is kept from the last request or not", () => {
  const valueOf = (value: string) => {
    const head = new RequestHead();
    const bytes = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: ${value}\r\n\r\n`);
    parseRequestHead(bytes, 0, bytes.length, head);
    return head.get("accept-encoding")!;
  };
  const first = valueOf("gzip, deflate, br, zstd");
  assert.equal(first, "gzip, deflate, br, zstd");
  assert.equal(valueOf("gzip, deflate, br, zstd"), first);
  assert.equal(valueOf("gzip, deflate, br, zstz"), "gzip, deflate, br, zstz", "same length, other bytes");
  assert.equal(valueOf("br"), "br");
  const long = "gzip;q=0.5, " + "x".repeat(300);
  assert.equal(valueOf(long), long, "too long to keep, decoded every time");
  assert.equal(valueOf(long), long);
});
