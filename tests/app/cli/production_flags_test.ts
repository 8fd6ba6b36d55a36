// The flags for production (PROXY protocol, trusted proxies, Unix socket, inherited descriptor,
// drain delay): their defaults, their values, and the combinations refused in one line.

import assert from "node:assert/strict";
import { type CliConfig, parseCli, UsageError } from "../../../app/cli/flags.ts";

const parse = (args: string[]) => parseCli(args) as CliConfig;

Deno.test("production flags are off by default", () => {
  const c = parse([]);
  assert.deepEqual(
    [c.proxyProtocol, c.trustedProxies, c.forwardedField, c.unix, c.fd, c.drainDelayMs],
    [false, [], "x-forwarded-for", null, null, 0],
  );
});

Deno.test("production flags take their values", () => {
  const c = parse([
    "--proxy-protocol",
    "--trusted-proxy",
    "10.0.0.0/8",
    "--trusted-proxy",
    "unix",
    "--forwarded-field",
    "forwarded",
    "--drain-delay",
    "2.5",
  ]);
  assert.deepEqual(
    [c.proxyProtocol, c.trustedProxies, c.forwardedField, c.drainDelayMs],
    [true, ["10.0.0.0/8", "unix"], "forwarded", 2500],
  );
  assert.deepEqual(parse(["--unix", "/run/a.sock", "--unix-mode", "0660"]).unix, {
    path: "/run/a.sock",
    mode: 0o660,
  });
  assert.equal(parse(["--fd", "3"]).fd, 3);
});

Deno.test("production flags refuse what cannot work, in one line", () => {
  const cases: [string[], RegExp][] = [
    [["--proxy-protocol"], /--proxy-protocol needs --trusted-proxy/],
    [["--trusted-proxy", "10.0.0.0/33"], /--trusted-proxy: "10.0.0.0\/33" is not an address range/],
    [["--trusted-proxy", "example.com"], /not an address range/],
    [["--forwarded-field", "x-real-ip"], /--forwarded-field takes x-forwarded-for or forwarded/],
    [["--unix-mode", "660"], /--unix-mode needs --unix/],
    [["--unix", "/a", "--unix-mode", "999"], /--unix-mode takes octal/],
    [["--unix", "/a", "--port", "80"], /--unix replaces --host and --port/],
    [["--unix", "/a", "--fd", "3"], /Give --unix or --fd, not both/],
    [["--fd", "2"], /--fd takes a descriptor number of 3 or more/],
    [["--fd", "3", "--workers", "2"], /--fd serves one process/],
    [["--drain-delay", "soon"], /--drain-delay takes a number of seconds/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseCli(args),
      (e) => e instanceof UsageError && message.test(e.message),
      args.join(" "),
    );
  }
});
