// The PROXY header parser, sans I/O, with hand-built v1 and v2 headers: every valid one parses
// whole and only whole (each strict prefix is INCOMPLETE), inside a larger buffer with the
// connection's own bytes after it; every malformed one says why.

import assert from "node:assert/strict";
import { INCOMPLETE, parseProxyHeader, PROXY_HEADER_MAX } from "../../../app/transport/proxy_protocol.ts";

import { SIGNATURE, v2 } from "./_proxy_headers.ts";

const text = (s: string) => new TextEncoder().encode(s);
const port = (n: number) => [n >> 8, n & 0xff];
const V6_DOC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x17];
const V6_LOOP = [...new Array(15).fill(0), 1];

const VALID: [string, Uint8Array, { host: string; port: number } | null][] = [
  ["v1 TCP4", text("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"), { host: "203.0.113.7", port: 5555 }],
  ["v1 TCP6", text("PROXY TCP6 2001:db8::17 ::1 65535 443\r\n"), { host: "2001:db8::17", port: 65535 }],
  ["v1 TCP6, uncompressed", text("PROXY TCP6 2001:0db8:0:0:0:0:0:0017 ::1 1 2\r\n"), {
    host: "2001:db8::17",
    port: 1,
  }],
  ["v1 UNKNOWN (the real peer)", text("PROXY UNKNOWN\r\n"), null],
  ["v1 UNKNOWN with addresses", text("PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n"), null],
  [
    "v1 at the longest",
    text(
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    ),
    { host: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", port: 65535 },
  ],
  ["v2 PROXY TCP4", v2(1, 0x11, [198, 51, 100, 9, 127, 0, 0, 1, ...port(4444), ...port(80)]), {
    host: "198.51.100.9",
    port: 4444,
  }],
  ["v2 PROXY TCP6", v2(1, 0x21, [...V6_DOC, ...V6_LOOP, ...port(1234), ...port(443)]), {
    host: "2001:db8::17",
    port: 1234,
  }],
  [
    "v2 PROXY TCP4 with TLVs (ALPN, authority)",
    v2(1, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, ...port(9), ...port(8)], [
      0x01,
      0,
      2,
      ...text("h2"),
      0x02,
      0,
      3,
      ...text("a.b"),
    ]),
    { host: "10.0.0.1", port: 9 },
  ],
  ["v2 LOCAL (a health check: the real peer)", v2(0, 0x00, []), null],
  ["v2 LOCAL with an address block, ignored", v2(0, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), null],
  ["v2 PROXY UNSPEC", v2(1, 0x00, []), null],
  ["v2 PROXY UNIX stream (no IP: the real peer)", v2(1, 0x31, new Array(216).fill(0x41)), null],
];

Deno.test("parseProxyHeader() parses every valid v1 and v2 header whole, leaving the bytes after it", () => {
  for (const [name, header, source] of VALID) {
    const after = text("GET / HTTP/1.1\r\n");
    const buf = new Uint8Array(7 + header.length + after.length);
    buf.fill(0xee, 0, 7);
    buf.set(header, 7);
    buf.set(after, 7 + header.length);
    assert.deepEqual(parseProxyHeader(buf, 7, buf.length), { consumed: header.length, source }, name);
    // Garbage past `end` is never looked at: only the header itself.
    assert.deepEqual(parseProxyHeader(buf, 7, 7 + header.length), { consumed: header.length, source }, name);
  }
});

Deno.test("parseProxyHeader() returns INCOMPLETE for every strict prefix of a valid header", () => {
  for (const [name, header] of VALID) {
    for (let n = 0; n < header.length; n++) {
      const buf = new Uint8Array(header.length + 8).fill(0x0a); // LFs past `end` must not end a v1 line
      buf.set(header.subarray(0, n));
      assert.equal(parseProxyHeader(buf, 0, n), INCOMPLETE, `${name}: first ${n} bytes`);
    }
  }
});

const MALFORMED: [string, Uint8Array, string][] = [
  ["no header: a request", text("GET / HTTP/1.1\r\n"), "proxy header missing"],
  ["no header: a TLS ClientHello", new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]), "proxy header missing"],
  ["v1 lower case", text("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "proxy header missing"],
  ["v1 bad protocol", text("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "proxy header malformed"],
  ["v1 IPv6 under TCP4", text("PROXY TCP4 ::1 ::1 1 2\r\n"), "proxy header malformed"],
  ["v1 IPv4 under TCP6", text("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), "proxy header malformed"],
  ["v1 octet above 255", text("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), "proxy header malformed"],
  ["v1 port above 65535", text("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "proxy header malformed"],
  ["v1 port with a leading zero", text("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"), "proxy header malformed"],
  ["v1 two spaces", text("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), "proxy header malformed"],
  ["v1 bare LF", text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "proxy header malformed"],
  ["v1 missing a port", text("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "proxy header malformed"],
  ["v1 hostname", text("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), "proxy header malformed"],
  ["v1 no CRLF within 107 bytes", text(`PROXY UNKNOWN ${"x".repeat(120)}`), "proxy header too long"],
  [
    "v2 version 1",
    (() => {
      const h = v2(1, 0x11, new Array(12).fill(1));
      h[12] = 0x11;
      return h;
    })(),
    "proxy header version",
  ],
  [
    "v2 command 2",
    (() => {
      const h = v2(1, 0x11, new Array(12).fill(1));
      h[12] = 0x22;
      return h;
    })(),
    "proxy header command",
  ],
  ["v2 family 0x41", v2(1, 0x41, new Array(12).fill(1)), "proxy header family"],
  ["v2 TCP4 with a short address block", v2(1, 0x11, new Array(8).fill(1)), "proxy header length"],
  ["v2 TCP6 with a TCP4 block", v2(1, 0x21, new Array(12).fill(1)), "proxy header length"],
  [
    "v2 longer than the bound",
    new Uint8Array([...SIGNATURE, 0x21, 0x11, 0x04, 0x00]),
    "proxy header too long",
  ],
  [
    "v2 signature broken",
    new Uint8Array([...SIGNATURE.slice(0, 11), 0x0b, 0x21, 0x11, 0, 0]),
    "proxy header missing",
  ],
];

Deno.test("parseProxyHeader() says why a malformed header can never be valid", () => {
  for (const [name, header, error] of MALFORMED) {
    assert.deepEqual(parseProxyHeader(header, 0, header.length), { error }, name);
  }
  assert.ok(PROXY_HEADER_MAX < 0x400 + 16, "the v2 bound refuses a 1 KiB address block");
});
