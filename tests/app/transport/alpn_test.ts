// ALPN's choice (RFC 7301 §3.2): the server's preference among what the client offers, read
// from the wire format of §3.1 without trusting its lengths.

import assert from "node:assert/strict";
import { HAS_LIBSSL } from "../../e2e/_tls.ts";

// Loaded only where libssl exists; elsewhere the test is ignored and says why.
const alpn = HAS_LIBSSL ? await import("../../../app/transport/alpn.ts") : null;
const SKIP = HAS_LIBSSL ? "" : " (skipped: no libssl.so.3; apt-get install libssl3)";

/** A protocol_name_list: each name is one length byte and the name. */
function wire(...names: string[]): Uint8Array {
  return new Uint8Array(names.flatMap((n) => [n.length, ...new TextEncoder().encode(n)]));
}

Deno.test({
  name: `selectProtocol() prefers ours in our order, and stops at a malformed list${SKIP}`,
  ignore: !alpn,
}, () => {
  const { selectProtocol } = alpn!;
  const ours = ["h2", "http/1.1"].map((n) => new TextEncoder().encode(n));
  assert.equal(selectProtocol(wire("h2", "http/1.1"), ours), 0);
  assert.equal(selectProtocol(wire("http/1.1", "h2"), ours), 9, "h2 wins whatever the client's order");
  assert.equal(selectProtocol(wire("spdy/3", "http/1.1"), ours), 7);
  assert.equal(selectProtocol(wire("h2c", "http/1.0"), ours), -1, "h2c is no h2 (RFC 9113 §3.2)");
  assert.equal(selectProtocol(wire("h2", "http/1.1"), ours.slice(1)), 3, "http/1.1 alone");
  assert.equal(selectProtocol(new Uint8Array([9, 0x68, 0x32]), ours), -1, "a length past the end");
  assert.equal(selectProtocol(new Uint8Array([0, 2, 0x68, 0x32]), ours), -1, "an empty name stops it");
  assert.equal(selectProtocol(new Uint8Array(0), ours), -1);
});
