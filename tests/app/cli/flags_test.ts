// Flags parsed to a configuration: the introspection paths (off by default, checked, --status-public only
// beside --status) and the site flags (--compress, --spa, --cors, --header, --immutable).

import assert from "node:assert/strict";
import { type CliConfig, parseCli, UsageError } from "../../../app/cli/flags.ts";
import { DEFAULTS } from "../../../app/defaults.ts";

function parse(args: string[]): CliConfig {
  const config = parseCli(args);
  assert.ok(typeof config === "object");
  return config;
}

Deno.test("--status, --metrics and --health are off unless given", () => {
  const config = parse([]);
  assert.equal(config.statusPath, null);
  assert.equal(config.metricsPath, null);
  assert.equal(config.healthPath, null);
  assert.equal(config.statusPublic, false);
});

Deno.test("--status, --status-public, --metrics and --health take their paths", () => {
  const config = parse([
    "--status",
    "/_/status",
    "--status-public",
    "--metrics=/metrics",
    "--health",
    "/healthz",
  ]);
  assert.equal(config.statusPath, "/_/status");
  assert.equal(config.statusPublic, true);
  assert.equal(config.metricsPath, "/metrics");
  assert.equal(config.healthPath, "/healthz");
});

Deno.test("introspection paths must be absolute paths without query, fragment or spaces, and distinct", () => {
  const bad: [string[], RegExp][] = [
    [["--status", "status"], /--status takes a path such as \/status/],
    [["--metrics", "/m?x=1"], /--metrics takes a path/],
    [["--health", "/a b"], /--health takes a path/],
    [["--health", "/h#x"], /--health takes a path/],
    [["--status", "/x", "--metrics", "/x"], /different paths/],
    [["--status-public"], /--status-public needs --status PATH/],
    [["--status"], /--status.* needs a value/],
  ];
  for (const [args, message] of bad) {
    assert.throws(
      () => parseCli(args),
      (e) => e instanceof UsageError && message.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("site flags: defaults, repeats, and --cors origins written as browsers send them", () => {
  const defaults = parse(["--root", "."]);
  assert.equal(defaults.compress, true);
  assert.equal(defaults.spa, false);
  assert.deepEqual(defaults.cors, []);
  assert.deepEqual(defaults.headers, []);
  assert.deepEqual(defaults.immutable, []);
  assert.equal(defaults.cacheControl, "no-cache");
  const config = parse([
    "--compress",
    "off",
    "--spa",
    "--cors",
    "https://App.Example.com:443/",
    "--cors=http://localhost:5173",
    "--header",
    "X-Frame-Options: DENY",
    "--header=Content-Security-Policy:default-src 'self'  ",
    "--header",
    "X-Empty:",
    "--immutable",
    "/assets/*",
    "--immutable",
    "*.woff2",
    ".",
  ]);
  assert.equal(config.compress, false);
  assert.equal(config.spa, true);
  assert.deepEqual(config.cors, ["https://app.example.com", "http://localhost:5173"]);
  assert.deepEqual(config.headers, [
    "X-Frame-Options",
    "DENY",
    "Content-Security-Policy",
    "default-src 'self'",
    "X-Empty",
    "",
  ]);
  assert.deepEqual(config.immutable, ["/assets/*", "*.woff2"]);
  assert.deepEqual(parse(["--cors", "*", "."]).cors, ["*"]);
  assert.deepEqual(parse(["--header", "X-A: 1"]).headers, ["X-A", "1"], "--header works without a root too");
});

Deno.test("site flags refuse what would break a response or mean nothing, in one line", () => {
  const bad: [string[], RegExp][] = [
    [["--header", "X-A: 1\r\nSet-Cookie: a=b", "."], /may not contain line breaks/],
    [["--header", "X-A: a\nb", "."], /may not contain line breaks/],
    [["--header", "X-A: \u0000", "."], /control characters/],
    [["--header", "X-A: \u2603", "."], /beyond Latin-1/],
    [["--header", "X A: 1", "."], /--header takes "Name: value"/],
    [["--header", "NoColon", "."], /--header takes "Name: value"/],
    [["--header", ": value", "."], /--header takes "Name: value"/],
    [["--header", "Content-Length: 5", "."], /cannot set Content-Length: rawserve frames/],
    [["--header", "cache-control: max-age=1", "."], /use --cache-control/],
    [["--header", "Access-Control-Allow-Origin: *", "."], /use --cors/],
    [["--cors", "https://a.example/path", "."], /--cors takes an origin/],
    [["--cors", "a.example", "."], /--cors takes an origin/],
    [["--cors", "ftp://a.example", "."], /--cors takes an origin/],
    [["--cors", "*", "--cors", "https://a.example", "."], /give it alone/],
    [["--compress", "yes", "."], /--compress takes on or off/],
    [["--immutable", "", "."], /--immutable takes a glob/],
    [["--spa"], /--spa needs a directory/],
    [["--cors", "*"], /--cors needs a directory/],
  ];
  for (const [args, message] of bad) {
    assert.throws(
      () => parseCli(args),
      (e) => e instanceof UsageError && message.test(e.message) && !e.message.includes("\n"),
      args.join(" "),
    );
  }
});

Deno.test("--max-websocket-memory sets the WebSocket message budget; it defaults to the server's", () => {
  assert.equal(parse([]).maxWebSocketMemoryBytes, DEFAULTS.maxWebSocketMemoryBytes);
  assert.equal(parse(["--max-websocket-memory", "65536"]).maxWebSocketMemoryBytes, 65536);
  assert.throws(() => parse(["--max-websocket-memory", "64K"]), UsageError);
});

Deno.test("--max-body-memory sets the request-body budget; it defaults to the server's and takes bytes", () => {
  assert.equal(parse([]).maxBodyMemoryBytes, DEFAULTS.maxBodyMemoryBytes);
  assert.equal(parse(["--max-body-memory", "4194304"]).maxBodyMemoryBytes, 4 * 1024 * 1024);
  assert.throws(() => parse(["--max-body-memory", "4M"]), UsageError);
});

Deno.test("a leading -- is dropped; a later one still ends the flags", () => {
  const config = parse(["--", "-p", "8084", "-H", "::1", "site"]);
  assert.equal(config.port, 8084);
  assert.equal(config.host, "::1");
  assert.equal(config.root, "site");
  assert.equal(parse(["--port", "1", "--", "--odd-name"]).root, "--odd-name");
  assert.equal(parseCli(["-h"]), "help");
  assert.equal(parseCli(["--", "-V"]), "version");
});

Deno.test("--log-format and --log-operator-paths: common and off by default", () => {
  assert.equal(parse([]).logFormat, "common");
  assert.equal(parse([]).logOperatorPaths, false);
  assert.equal(parse(["--log-format", "json", "--log-operator-paths"]).logFormat, "json");
  assert.equal(parse(["--log-operator-paths"]).logOperatorPaths, true);
  assert.throws(() => parse(["--log-format", "clf"]), UsageError);
});

Deno.test("--auth-file is off unless given; --auth-paths repeats and --auth-realm defaults to rawserve", () => {
  assert.equal(parse([]).auth, null);
  assert.deepEqual(parse(["--auth-file", "users"]).auth, { file: "users", paths: [], realm: "rawserve" });
  const config = parse([
    "--auth-file=u",
    "--auth-paths",
    "/a/*",
    "--auth-paths",
    "*.pdf",
    "--auth-realm",
    "Team docs",
  ]);
  assert.deepEqual(config.auth, { file: "u", paths: ["/a/*", "*.pdf"], realm: "Team docs" });
});

Deno.test("--auth-paths and --auth-realm need --auth-file; empty or control-holding values are refused", () => {
  const bad: [string[], RegExp][] = [
    [["--auth-paths", "/a/*"], /--auth-paths and --auth-realm need --auth-file FILE/],
    [["--auth-realm", "x"], /need --auth-file/],
    [["--auth-file", ""], /--auth-file needs an htpasswd file/],
    [["--auth-file", "u", "--auth-paths", ""], /--auth-paths takes a glob/],
    [["--auth-file", "u", "--auth-paths", "/a\n"], /--auth-paths takes a glob/],
    [["--auth-file", "u", "--auth-realm", ""], /--auth-realm takes up to 100 printable ASCII/],
    [["--auth-file", "u", "--auth-realm", "naïve"], /--auth-realm takes/],
    [["--auth-file", "u", "--auth-realm", "a\tb"], /--auth-realm takes/],
  ];
  for (const [args, message] of bad) {
    assert.throws(
      () => parseCli(args),
      (e) => e instanceof UsageError && message.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("--cert/--key repeat in pairs: the first is the default, the others are for SNI, in order", () => {
  assert.deepEqual(parse(["--cert", "a.pem", "--key", "a.key"]).tls?.others, []);
  const tls = parse([
    "--cert",
    "a.pem",
    "--key",
    "a.key",
    "--cert",
    "b.pem",
    "--key",
    "b.key",
    "--cert",
    "c.pem",
    "--key",
    "c.key",
  ]).tls!;
  assert.deepEqual([tls.cert, tls.key], ["a.pem", "a.key"]);
  assert.deepEqual(tls.others, [{ cert: "b.pem", key: "b.key" }, { cert: "c.pem", key: "c.key" }]);
  assert.throws(
    () => parse(["--cert", "a.pem", "--key", "a.key", "--cert", "b.pem"]),
    (e) => e instanceof UsageError && /2 --cert and 1 --key/.test(e.message),
  );
  assert.throws(
    () => parse(["--cert", "a.pem"]),
    (e) => e instanceof UsageError && /--key is missing/.test(e.message),
  );
});
