// The OpenSSL binding: the error queue is read and emptied in one place, reasons are text a
// person can read, and the constants match OpenSSL 3's headers where they can be checked.

import assert from "node:assert/strict";
import { HAS_LIBSSL } from "../e2e/_tls.ts";

// Loaded only where libssl exists; elsewhere the tests are ignored and say why.
const ssl = HAS_LIBSSL ? await import("../../ffi/libssl.ts") : null;
const SKIP = HAS_LIBSSL ? "" : " (skipped: no libssl.so.3; apt-get install libssl3)";

Deno.test({
  name: `takeSslError() returns the first queued error and leaves the queue empty${SKIP}`,
  ignore: !ssl,
}, () => {
  const { libssl, sslErrorReason, takeSslError } = ssl!;
  const { TLS_server_method, SSL_CTX_new, SSL_CTX_free, SSL_CTX_use_certificate_chain_file } = libssl.symbols;
  const ctx = SSL_CTX_new(TLS_server_method())!;
  try {
    assert.equal(takeSslError(), 0, "nothing queued to begin with");
    const missing = new TextEncoder().encode("/definitely/not/here.pem\0");
    assert.equal(SSL_CTX_use_certificate_chain_file(ctx, missing), 0);
    const code = takeSslError();
    assert.notEqual(code, 0);
    assert.match(sslErrorReason(code), /[a-z]/);
    assert.equal(takeSslError(), 0, "the rest of the queue was cleared");
    assert.equal(sslErrorReason(0), "no error queued");
  } finally {
    SSL_CTX_free(ctx);
  }
});

Deno.test({ name: `SSL_CTX_ctrl(MODE) sets exactly the modes asked for${SKIP}`, ignore: !ssl }, () => {
  const { libssl, SSL_CTRL, SSL_MODE } = ssl!;
  const { TLS_server_method, SSL_CTX_new, SSL_CTX_free, SSL_CTX_ctrl } = libssl.symbols;
  const ctx = SSL_CTX_new(TLS_server_method())!;
  try {
    const before = Number(SSL_CTX_ctrl(ctx, SSL_CTRL.MODE, 0n, null)); // adds nothing, returns the modes
    const modes = SSL_MODE.ENABLE_PARTIAL_WRITE | SSL_MODE.ACCEPT_MOVING_WRITE_BUFFER;
    const after = Number(SSL_CTX_ctrl(ctx, SSL_CTRL.MODE, BigInt(modes), null));
    assert.equal(after, before | modes);
  } finally {
    SSL_CTX_free(ctx);
  }
});
