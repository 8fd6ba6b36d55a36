// The README's "Running in production" section and docs/production.md say what the tests run: its HAProxy configuration is
// the one haproxy_test.ts and rolling_restart_test.ts give HAProxy, its nginx site the one
// nginx_balancer_test.ts gives nginx, and its systemd unit runs deno with the permissions
// rawserve's own command uses.

import assert from "node:assert/strict";
import { RUN_PERMISSIONS } from "../../app/cli/supervisor.ts";
import { haproxyConfig } from "./_haproxy.ts";
import { nginxSite } from "./_nginx_balancer.ts";

const README = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
const SECTION = README.slice(
  README.indexOf("## Running in production"),
  README.indexOf("## How it holds up"),
);
const DOC = Deno.readTextFileSync(new URL("../../docs/production.md", import.meta.url));

Deno.test("README's Running in production: the HAProxy configuration is the tests' own", () => {
  const config = haproxyConfig("*:80", ["10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"]);
  for (const page of [SECTION, DOC]) {
    assert.ok(
      page.includes("```haproxy\n" + config + "```"),
      "regenerate the block from tests/e2e/_haproxy.ts",
    );
  }
});

Deno.test("README's Running in production: the nginx site is the nginx test's own", () => {
  const site = nginxSite("80", [1, 2, 3].map((i) => `/run/rawserve/r${i}.sock`));
  for (const page of [SECTION, DOC]) {
    assert.ok(
      page.includes("```nginx\n" + site + "```"),
      "regenerate the block from tests/e2e/_nginx_balancer.ts",
    );
  }
});

Deno.test("README's Running in production: the systemd unit runs deno directly with rawserve's permissions", () => {
  for (const page of [SECTION, DOC]) {
    const exec = /^ExecStart=(.*)$/m.exec(page)?.[1] ?? "";
    assert.ok(exec.startsWith(`/usr/local/bin/deno run ${RUN_PERMISSIONS.join(" ")} `), exec);
    assert.doesNotMatch(exec, /deno task/);
  }
});
