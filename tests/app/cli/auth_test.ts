// The warning for passwords over plain HTTP: given when the address reaches beyond this machine,
// not for loopback addresses, not over HTTPS, not without --auth-file.

import assert from "node:assert/strict";
import { plainHttpWarning } from "../../../app/cli/auth.ts";
import { type CliConfig, parseCli } from "../../../app/cli/flags.ts";

function config(args: string[]): CliConfig {
  const parsed = parseCli(args);
  assert.ok(typeof parsed === "object");
  return parsed;
}

Deno.test("plainHttpWarning() warns about --auth-file over plain HTTP on an address beyond loopback only", () => {
  const auth = ["--auth-file", "users"];
  for (const host of ["0.0.0.0", "::", "192.168.1.10", "fe80::1"]) {
    const warning = plainHttpWarning(config([...auth, "--host", host]));
    assert.match(
      warning ?? "",
      new RegExp(`^warning: --auth-file over plain HTTP on ${host.replace(/\./g, "\\.")}: `),
    );
    assert.match(warning!, /add --cert and --key, or listen on 127\.0\.0\.1$/);
  }
  for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) {
    assert.equal(plainHttpWarning(config([...auth, "--host", host])), null, host);
  }
  assert.equal(
    plainHttpWarning(config([...auth, "--host", "0.0.0.0", "--cert", "c.pem", "--key", "k.pem"])),
    null,
  );
  assert.equal(plainHttpWarning(config(["--host", "0.0.0.0"])), null);
});
