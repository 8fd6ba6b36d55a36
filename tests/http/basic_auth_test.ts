// Basic authentication's HTTP part: the Authorization field parsed strictly (RFC 7617), the paths
// it protects resolved as the site resolves them, and the wrapper's answers for each verdict.

import assert from "node:assert/strict";
import {
  parseBasicCredentials,
  type PasswordCheck,
  protectedPaths,
  VERDICT,
  type Verdict,
  withBasicAuth,
} from "../../http/basic_auth.ts";
import { RequestHead } from "../../http/request_head.ts";
import type { Handler, HttpRequest, HttpResponse } from "../../http/types.ts";

/** `Basic ` and the base64 of raw bytes given as a Latin-1 string. */
function basic(latin1: string): string {
  return `Basic ${btoa(latin1)}`;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("parseBasicCredentials() reads the user-id and password of RFC 7617's example and others", () => {
  const cases: [string, string, string][] = [
    ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Aladdin", "open sesame"], // RFC 7617 §2
    [basic("alice:pa:ss:"), "alice", "pa:ss:"], // a password may hold colons; the user-id ends at the first
    [basic("alice:"), "alice", ""],
    [basic(":secret"), "", "secret"],
    ["basic " + btoa("a:b"), "a", "b"], // the scheme is case-insensitive (RFC 9110 §11.1)
    ["BASIC   " + btoa("a:b") + "  ", "a", "b"], // 1*SP, and the field's own whitespace
  ];
  for (const [value, user, password] of cases) {
    const credentials = parseBasicCredentials(value);
    assert.ok(credentials, value);
    assert.equal(credentials.user, user, value);
    assert.equal(text(credentials.password), password, value);
  }
});

Deno.test("parseBasicCredentials() decodes a UTF-8 user-id and passes the password's bytes on undecoded", () => {
  const utf8 = String.fromCharCode(...new TextEncoder().encode("jürgen:pässwörd"));
  const credentials = parseBasicCredentials(basic(utf8));
  assert.equal(credentials?.user, "jürgen");
  assert.equal(text(credentials!.password), "pässwörd");
  // A client that ignored charset="UTF-8" sends Latin-1: the bytes reach the check as they are.
  const latin1 = parseBasicCredentials(basic("bob:p\xe4ss"));
  assert.equal(latin1?.user, "bob");
  assert.deepEqual([...latin1!.password], [0x70, 0xe4, 0x73, 0x73]);
});

Deno.test("parseBasicCredentials() refuses what is not one usable Basic credential", () => {
  const bad: [string | undefined, string][] = [
    [undefined, "no field"],
    ["", "empty"],
    ["Basic", "scheme without credentials"],
    ["Basic ", "scheme with a space only"],
    ["Bearer " + btoa("a:b"), "another scheme"],
    ['Digest username="a"', "another scheme with parameters"],
    [btoa("a:b"), "credentials without a scheme"],
    ["Basic " + btoa("a:b") + ", Bearer x", "a second scheme after it"],
    ["Basic " + btoa("a:b") + " x", "a second token"],
    ["Basic\t" + btoa("a:b"), "a tab where RFC 7235 wants a space"],
    ["Basic YTpi=", "bad padding length"],
    ["Basic YTpiYw", "missing padding"],
    ["Basic YT=iYw==", "padding in the middle"],
    ["Basic YTp!Yw==", "a character outside base64"],
    ["Basic YTpi-_==", "base64url's alphabet"],
    ["Basic YTpi Yw==", "a space inside"],
    [basic("alice"), "no colon"],
    [basic("\xff\xfe:pw"), "a user-id that is not UTF-8"],
    [basic("al\x01ice:pw"), "a control character in the user-id"],
    [basic("alice:p\x00w"), "NUL in the password"],
    [basic("alice:p\nw"), "a line feed in the password"],
    [basic("alice:p\x7fw"), "DEL in the password"],
  ];
  for (const [value, why] of bad) assert.equal(parseBasicCredentials(value), null, why);
});

Deno.test("protectedPaths() matches globs on the path the site resolves: decoded once, normalized, without query", () => {
  const protects = protectedPaths(["/private/*", "*.pdf"]);
  const yes = [
    "/private/a.txt",
    "/private/deep/er/b",
    "/private/",
    "/private", // the directory itself, which would redirect to /private/
    "/%70rivate/a.txt", // a percent-encoded letter
    "/public/../private/a.txt", // dot segments
    "//private//a.txt", // empty segments
    "/./private/a.txt",
    "/private/a.txt?x=1",
    "/docs/report.pdf",
    "/%zz/a", // a bad escape the site would refuse: protected, never let through by failing to parse
    "/a%00b", // NUL
  ];
  const no = [
    "/",
    "/index.html",
    "/privateer/a.txt",
    "/public/private/a.txt",
    "/docs/report.pdf.txt",
    "/?/private/",
  ];
  for (const path of yes) assert.equal(protects(path), true, path);
  for (const path of no) assert.equal(protects(path), false, path);
});

Deno.test("protectedPaths() with no glob protects every path", () => {
  const protects = protectedPaths([]);
  for (const path of ["/", "/a", "/a/b?c"]) assert.equal(protects(path), true, path);
});

/** A request for `path` with `fields` (lower-case names and values, alternating). */
function request(path: string, fields: string[] = []): HttpRequest {
  const head = new RequestHead();
  head.method = "GET";
  head.path = path;
  head.target = path;
  head.headers = fields;
  return {
    head,
    body: null,
    peer: { remoteAddress: () => "127.0.0.1", remotePort: () => 1 },
    observer: null,
  };
}

const SITE: Handler = () => ({ status: 200, body: "site" });

/** A check that answers `verdict` (as a Promise when `later`), and remembers what it was asked. */
function checkAnswering(verdict: Verdict, later = false): PasswordCheck & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    check(user, password) {
      asked.push(`${user}:${text(password)}`);
      return later ? Promise.resolve(verdict) : verdict;
    },
  };
}

function field(response: HttpResponse, name: string): string | undefined {
  const headers = response.headers as readonly string[];
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

Deno.test("withBasicAuth() answers 401 with the RFC 7617 challenge without credentials, asking no check", async () => {
  const check = checkAnswering(VERDICT.ALLOWED);
  const handler = withBasicAuth(SITE, { realm: 'my "docs" \\ site', paths: [], check });
  const response = await handler(request("/a"));
  assert.equal(response.status, 401);
  assert.equal(field(response, "www-authenticate"), 'Basic realm="my \\"docs\\" \\\\ site", charset="UTF-8"');
  assert.equal(field(response, "cache-control"), "no-store");
  assert.deepEqual(check.asked, []);
});

Deno.test("withBasicAuth() passes the request on when the check allows it, at once or later", async () => {
  for (const later of [false, true]) {
    const check = checkAnswering(VERDICT.ALLOWED, later);
    const allowed: string[] = [];
    const onAllowed = (_: HttpRequest, user: string) => allowed.push(user);
    const handler = withBasicAuth(SITE, { realm: "r", paths: [], check, onAllowed });
    const answer = handler(request("/a", ["authorization", basic("alice:pa:ss")]));
    assert.equal(answer instanceof Promise, later);
    assert.equal((await answer).body, "site");
    assert.deepEqual(check.asked, ["alice:pa:ss"]);
    assert.deepEqual(allowed, ["alice"]);
  }
});

Deno.test("withBasicAuth() answers 401 to a denied password and 503 with Retry-After when checks are busy", async () => {
  const onAllowed = () => assert.fail("nobody is let in");
  for (const later of [false, true]) {
    const denied = withBasicAuth(SITE, {
      realm: "r",
      paths: [],
      check: checkAnswering(VERDICT.DENIED, later),
      onAllowed,
    });
    const response = await denied(request("/a", ["authorization", basic("alice:wrong")]));
    assert.equal(response.status, 401);
    assert.match(field(response, "www-authenticate")!, /^Basic realm="r"/);
    const busy = withBasicAuth(SITE, {
      realm: "r",
      paths: [],
      check: checkAnswering(VERDICT.BUSY, later),
      onAllowed,
    });
    const unavailable = await busy(request("/a", ["authorization", basic("alice:pw")]));
    assert.equal(unavailable.status, 503);
    assert.equal(field(unavailable, "retry-after"), "1");
  }
});

Deno.test("withBasicAuth() leaves unprotected paths alone and refuses two Authorization fields", async () => {
  const check = checkAnswering(VERDICT.ALLOWED);
  const handler = withBasicAuth(SITE, { realm: "r", paths: ["/private/*"], check });
  assert.equal((await handler(request("/public/a"))).status, 200);
  const twice = request("/private/a", ["authorization", basic("a:b"), "authorization", basic("c:d")]);
  assert.equal((await handler(twice)).status, 401);
  assert.equal((await handler(request("/private/a", ["authorization", "Bearer abc"]))).status, 401);
  assert.deepEqual(check.asked, []);
});
