// Proactive negotiation: Accept for JSON and HTML answers, and Accept-Encoding's q-values,
// identity, `*`, case, whitespace, duplicates and garbage, and the choice among the codings on offer.

import assert from "node:assert/strict";
import {
  acceptedCodings,
  acceptsHtml,
  chooseCoding,
  IDENTITY,
  NOT_ACCEPTABLE,
  parseAcceptEncoding,
  prefersJson,
} from "../../http/negotiation.ts";
import { RequestHead } from "../../http/request_head.ts";

Deno.test("prefersJson() answers JSON to those who ask for it and HTML to browsers and curl", () => {
  assert.equal(prefersJson("application/json"), true);
  assert.equal(prefersJson("application/json, text/plain, */*"), true);
  assert.equal(prefersJson("text/html;q=0.5, application/json"), true);
  assert.equal(prefersJson("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), false);
  assert.equal(prefersJson("*/*"), false);
  assert.equal(prefersJson(undefined), false);
  assert.equal(prefersJson("application/json;q=0, text/html"), false);
  assert.equal(prefersJson("application/*"), true);
});

Deno.test("acceptsHtml() is true for browsers naming text/html, false for */* alone and refusals", () => {
  assert.equal(acceptsHtml("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), true);
  assert.equal(acceptsHtml("text/*"), true);
  assert.equal(acceptsHtml("TEXT/HTML"), true);
  assert.equal(acceptsHtml("*/*"), false);
  assert.equal(acceptsHtml("application/json"), false);
  assert.equal(acceptsHtml("text/html;q=0, */*"), false);
  assert.equal(acceptsHtml(undefined), false);
  assert.equal(acceptsHtml(""), false);
});

/** [br, zstd, gzip, identity] */
type Qs = [number, number, number, number];
const UNLISTED = 1e-6; // identity when neither it nor "*" is named

Deno.test("parseAcceptEncoding() reads q-values, identity, * and x-gzip", () => {
  const cases: [string | undefined, Qs][] = [
    [undefined, [0, 0, 0, 1]],
    ["", [0, 0, 0, UNLISTED]],
    ["gzip", [0, 0, 1, UNLISTED]],
    ["gzip, deflate, br, zstd", [1, 1, 1, UNLISTED]],
    ["br;q=1.0, gzip;q=0.8, *;q=0.1", [1, 0.1, 0.8, 0.1]],
    ["gzip;q=1.0, identity; q=0.5, *;q=0", [0, 0, 1, 0.5]],
    ["identity", [0, 0, 0, 1]],
    ["identity;q=0", [0, 0, 0, 0]],
    ["*", [1, 1, 1, 1]],
    ["*;q=0", [0, 0, 0, 0]],
    ["*;q=0, identity", [0, 0, 0, 1]],
    ["x-gzip", [0, 0, 1, UNLISTED]],
    ["deflate, compress, sdch", [0, 0, 0, UNLISTED]],
    ["zstd;q=0.001", [0, 0.001, 0, UNLISTED]],
    ["br;q=0.000", [0, 0, 0, UNLISTED]],
    ["br;q=1.000", [1, 0, 0, UNLISTED]],
    ["br;q=0.", [0, 0, 0, UNLISTED]],
  ];
  for (const [value, expected] of cases) {
    assert.deepEqual([...parseAcceptEncoding(value)], expected, JSON.stringify(value));
  }
});

Deno.test("parseAcceptEncoding() ignores case and optional whitespace, and empty list elements", () => {
  const expected = [0.5, 0, 1, UNLISTED];
  for (
    const value of [
      "GZIP, Br;Q=0.5",
      "gzip,br;q=0.5",
      " \tgzip ,\t br ; q=0.5 ",
      ",gzip,, br;q=0.5,",
    ]
  ) assert.deepEqual([...parseAcceptEncoding(value)], expected, JSON.stringify(value));
});

Deno.test("parseAcceptEncoding() keeps the lower q-value of a coding named twice", () => {
  assert.deepEqual([...parseAcceptEncoding("br, br;q=0")], [0, 0, 0, UNLISTED]);
  assert.deepEqual([...parseAcceptEncoding("br;q=0, br")], [0, 0, 0, UNLISTED]);
  assert.deepEqual([...parseAcceptEncoding("gzip;q=0.7, x-gzip;q=0.4")], [0, 0, 0.4, UNLISTED]);
  assert.deepEqual([...parseAcceptEncoding("identity, identity;q=0")], [0, 0, 0, 0]);
});

Deno.test("parseAcceptEncoding() answers identity only to a value that does not parse", () => {
  for (
    const value of [
      "gzip;q=1.5",
      "gzip;q=0.0001",
      "gzip;q=.5",
      "gzip;q = 0.5",
      "gzip;q=",
      "gzip;level=1",
      "gzip;q=0.5;q=0.4",
      "gz ip",
      "gzip/br",
      "br;q=1.001",
      "\u00e9",
      ";q=1",
      "br, @",
    ]
  ) assert.deepEqual([...parseAcceptEncoding(value)], [0, 0, 0, 1], JSON.stringify(value));
});

const BR = 0, ZSTD = 1, GZIP = 2;
const mask = (...codings: number[]) => codings.reduce((m, c) => m | 1 << c, 0);

Deno.test("chooseCoding() follows the client's q-values, then rawserve's order, then the first set", () => {
  const all = mask(BR, ZSTD, GZIP);
  const cases: [string | undefined, number, number, number][] = [
    // value, first (sidecars), second (compressed here), expected
    [undefined, 0, all, IDENTITY],
    ["gzip, deflate, br, zstd", 0, all, BR],
    ["gzip, deflate, br, zstd", mask(GZIP), mask(BR, ZSTD), GZIP], // ties go to the first set
    ["gzip;q=0.5, br", mask(GZIP), mask(BR, ZSTD), BR], // a higher q-value beats the first set
    ["gzip, zstd", 0, all, ZSTD],
    ["gzip;q=1, br;q=0.9", 0, all, GZIP],
    ["gzip;q=0.5, identity", 0, all, IDENTITY], // identity named above gzip
    ["gzip;q=0.5", 0, all, GZIP], // identity unnamed comes after every coding named
    ["gzip;q=0.5, identity;q=0.5", 0, all, GZIP], // ties go to the coding
    ["br", 0, mask(GZIP), IDENTITY], // br is not on offer
    ["br, identity;q=0", 0, mask(GZIP), NOT_ACCEPTABLE],
    ["identity;q=0", 0, all, NOT_ACCEPTABLE],
    ["*;q=0", 0, 0, NOT_ACCEPTABLE],
    ["*", 0, all, BR],
    ["*", 0, 0, IDENTITY],
    ["gzip;q=0", 0, all, IDENTITY],
    ["garbage;;", 0, all, IDENTITY],
  ];
  for (const [value, first, second, expected] of cases) {
    assert.equal(
      chooseCoding(parseAcceptEncoding(value), first, second),
      expected,
      `${value} ${first} ${second}`,
    );
  }
});

Deno.test("acceptedCodings() joins repeated fields into one list and remembers the last value", () => {
  const head = new RequestHead();
  head.headers = ["host", "x", "accept-encoding", "gzip;q=0.2", "accept-encoding", "br;q=0.3"];
  assert.deepEqual([...acceptedCodings(head)], [0.3, 0, 0.2, UNLISTED]);
  const again = acceptedCodings(head);
  assert.equal(acceptedCodings(head), again, "the same value is answered from memory");
  head.headers = ["host", "x"];
  assert.deepEqual([...acceptedCodings(head)], [0, 0, 0, 1]);
  head.headers = ["accept-encoding", "gzip, br;q=0"];
  assert.deepEqual([...acceptedCodings(head)], [0, 0, 1, UNLISTED]);
});
