// The introspection flags: off by default, paths checked, --status-public only beside --status.

import assert from "node:assert/strict";
import { type CliConfig, parseCli, UsageError } from "../../app/cli.ts";

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
