// The TLS context's checks that need no certificate: kernel TLS detection and key files that
// would make OpenSSL prompt or fail obscurely.

import assert from "node:assert/strict";
import { StartupError } from "../../../ffi/errno.ts";
import { HAS_LIBSSL } from "../../e2e/_tls.ts";
import { TicketKeyRing } from "../../../app/transport/ticket_keys.ts";

// Loaded only where libssl exists; elsewhere the tests are ignored and say why.
const tls = HAS_LIBSSL ? await import("../../../app/transport/tls_context.ts") : null;
const SKIP = HAS_LIBSSL ? "" : " (skipped: no libssl.so.3; apt-get install libssl3)";

Deno.test(
  { name: `kernelTlsAvailable() reads the tls ULP from tcp_available_ulp${SKIP}`, ignore: !tls },
  () => {
    const { kernelTlsAvailable } = tls!;
    assert.equal(kernelTlsAvailable("mptcp\n"), false, "this machine's kernel");
    assert.equal(kernelTlsAvailable("espintcp mptcp tls\n"), true);
    assert.equal(kernelTlsAvailable(""), false);
    assert.equal(kernelTlsAvailable("tlsx"), false);
  },
);

Deno.test({
  name: `an encrypted key is refused with one line instead of a passphrase prompt${SKIP}`,
  ignore: !tls,
}, () => {
  const { TlsContext } = tls!;
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-tlsctx-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/cert.pem`,
      "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    );
    Deno.writeTextFileSync(
      `${dir}/key.pem`,
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    assert.throws(
      () =>
        TlsContext.load({ cert: `${dir}/cert.pem`, key: `${dir}/key.pem` }, {
          ticketKeys: TicketKeyRing.fresh(),
          ktls: false,
        }),
      (e: unknown) =>
        e instanceof StartupError && /encrypted with a passphrase/.test(e.message) &&
        !e.message.includes("\n"),
    );
    assert.throws(
      () =>
        TlsContext.load({ cert: `${dir}/cert.pem`, key: `${dir}` }, {
          ticketKeys: TicketKeyRing.fresh(),
          ktls: false,
        }),
      /Cannot read --key .*: is a directory \(EISDIR\)/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
