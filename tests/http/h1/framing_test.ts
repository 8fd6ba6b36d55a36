// decideFraming(): one table of responses and requests, each row's whole decision checked on one
// reused `out` object, in table order and after every other row (a stale field would show).

import assert from "node:assert/strict";
import {
  decideFraming,
  FRAMING,
  type FramingRequest,
  type ResponseFraming,
} from "../../../http/h1/framing.ts";

const { LENGTH, CHUNKED, UNTIL_CLOSE, NONE } = FRAMING;

const GET_11: FramingRequest = Object.freeze({ isHead: false, minor: 1, close: false });
const GET_11_CLOSE: FramingRequest = Object.freeze({ isHead: false, minor: 1, close: true });
const GET_10: FramingRequest = Object.freeze({ isHead: false, minor: 0, close: false });
const GET_10_CLOSE: FramingRequest = Object.freeze({ isHead: false, minor: 0, close: true });
const HEAD_11: FramingRequest = Object.freeze({ isHead: true, minor: 1, close: false });
const HEAD_10: FramingRequest = Object.freeze({ isHead: true, minor: 0, close: false });

interface Row {
  name: string;
  status: number;
  length: number;
  request: FramingRequest;
  want: ResponseFraming;
}

function row(
  name: string,
  status: number,
  length: number,
  request: FramingRequest,
  want: [
    framing: ResponseFraming["framing"],
    length: number,
    close: boolean,
    keepAlive10: boolean,
    omit: boolean,
  ],
): Row {
  const [framing, wantLength, close, keepAlive10, omitBody] = want;
  return {
    name,
    status,
    length,
    request,
    want: { framing, length: wantLength, close, keepAlive10, omitBody },
  };
}

// Each row: name, status, length, request, then the decision [framing, length, close, keepAlive10,
// omitBody]. Rows with a length the decision must not keep (204, 304) and rows that set every
// boolean both ways are there for the reuse test at the end.
const NO_BODY: Row[] = [
  row("204 with a length given", 204, 1234, GET_11, [NONE, 0, false, false, true]),
  row("100 Continue", 100, -1, GET_11, [NONE, 0, false, false, true]),
  row("101 Switching Protocols", 101, 0, GET_11, [NONE, 0, false, false, true]),
  row("199, the last 1xx", 199, 7, GET_11, [NONE, 0, false, false, true]),
  row("304 with the GET's length", 304, 42, GET_11, [NONE, 0, false, false, true]),
  row("304 to an HTTP/1.0 keep-alive", 304, 42, GET_10, [NONE, 0, false, true, true]),
  row("204 to a closing request", 204, -1, GET_11_CLOSE, [NONE, 0, true, false, true]),
  row("HEAD answered 304", 304, 42, HEAD_11, [NONE, 0, false, false, true]),
];
const KNOWN_LENGTH: Row[] = [
  row("200 with 5 bytes", 200, 5, GET_11, [LENGTH, 5, false, false, false]),
  row("404 with an empty body", 404, 0, GET_11, [LENGTH, 0, false, false, false]),
  row("205, no longer 'no body'", 205, 0, GET_11, [LENGTH, 0, false, false, false]),
  row("200 with 1234 bytes to HTTP/1.0", 200, 1234, GET_10, [LENGTH, 1234, false, true, false]),
];
const UNKNOWN_LENGTH: Row[] = [
  row("a stream over HTTP/1.1", 200, -1, GET_11, [CHUNKED, 0, false, false, false]),
  row("a stream over HTTP/1.0", 200, -1, GET_10, [UNTIL_CLOSE, 0, true, false, false]),
  row("a 500 stream over HTTP/1.1", 500, -1, GET_11, [CHUNKED, 0, false, false, false]),
];
const HEAD: Row[] = [
  row("HEAD of 42 bytes", 200, 42, HEAD_11, [LENGTH, 42, false, false, true]),
  row("HEAD of a stream over HTTP/1.1", 200, -1, HEAD_11, [CHUNKED, 0, false, false, true]),
  row("HEAD of 42 bytes over HTTP/1.0", 200, 42, HEAD_10, [LENGTH, 42, false, true, true]),
  row("HEAD of a stream over HTTP/1.0", 200, -1, HEAD_10, [UNTIL_CLOSE, 0, true, false, true]),
];
const CONNECTION: Row[] = [
  row("HTTP/1.1 asking to close", 200, 5, GET_11_CLOSE, [LENGTH, 5, true, false, false]),
  row("HTTP/1.0 keep-alive", 200, 5, GET_10, [LENGTH, 5, false, true, false]),
  row("HTTP/1.0 asking to close", 200, 5, GET_10_CLOSE, [LENGTH, 5, true, false, false]),
  row("HTTP/1.1 keep-alive", 200, 5, GET_11, [LENGTH, 5, false, false, false]),
  row("HTTP/1.1 stream asking to close", 200, -1, GET_11_CLOSE, [CHUNKED, 0, true, false, false]),
];
const ALL = [...NO_BODY, ...KNOWN_LENGTH, ...UNKNOWN_LENGTH, ...HEAD, ...CONNECTION];

/** A decision whose every field is wrong for every row. */
function garbage(): ResponseFraming {
  return {
    framing: 99 as ResponseFraming["framing"],
    length: 999_999,
    close: true,
    keepAlive10: true,
    omitBody: true,
  };
}

function check(rows: Row[], out: ResponseFraming = garbage()): void {
  for (const { name, status, length, request, want } of rows) {
    decideFraming(out, status, length, request);
    assert.deepEqual(out, want, name);
  }
}

Deno.test("decideFraming() gives 1xx, 204 and 304 no framing field, no length and no body", () => {
  check(NO_BODY);
});

Deno.test("decideFraming() sends a known length as Content-Length, an empty body included", () => {
  check(KNOWN_LENGTH);
});

Deno.test("decideFraming() chunks an unknown length over HTTP/1.1 and ends it with the connection over HTTP/1.0", () => {
  check(UNKNOWN_LENGTH);
});

Deno.test("decideFraming() answers HEAD with the GET's length and no body", () => {
  check(HEAD);
  for (const request of [HEAD_11, HEAD_10]) {
    const get = { ...request, isHead: false };
    for (const length of [0, 42, -1]) {
      const asHead = garbage(), asGet = garbage();
      decideFraming(asHead, 200, length, request);
      decideFraming(asGet, 200, length, get);
      assert.equal(asHead.omitBody, true);
      assert.deepEqual({ ...asHead, omitBody: false }, asGet, `minor ${request.minor}, length ${length}`);
    }
  }
});

Deno.test("decideFraming() keeps the request's close and says keep-alive only to HTTP/1.0 clients that stay", () => {
  check(CONNECTION);
  for (const r of ALL) {
    const out = garbage();
    decideFraming(out, r.status, r.length, r.request);
    if (r.request.close) assert.equal(out.close, true, `${r.name}: the request's close is kept`);
    assert.equal(out.keepAlive10, r.request.minor === 0 && !out.close, `${r.name}: keepAlive10`);
  }
});

Deno.test("decideFraming() overwrites every field of a reused decision, whatever row came before", () => {
  const out = garbage();
  check(ALL, out);
  check([...ALL].reverse(), out);
  for (const before of ALL) {
    for (const after of ALL) {
      decideFraming(out, before.status, before.length, before.request);
      decideFraming(out, after.status, after.length, after.request);
      assert.deepEqual(out, after.want, `${after.name}, after ${before.name}`);
    }
  }
});
