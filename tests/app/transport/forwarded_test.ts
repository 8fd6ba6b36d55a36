// Whose word on the client is taken: trusted ranges (CIDR, `unix`), and the client named by
// Forwarded (RFC 7239) or X-Forwarded-For, only through trusted proxies, the right-most
// untrusted hop; spoofing attempts keep the address a trusted proxy saw.

import assert from "node:assert/strict";
import { TrustedProxies } from "../../../app/transport/trusted_proxies.ts";
import { forwardedClient, forwardedScheme } from "../../../app/transport/forwarded.ts";

Deno.test("TrustedProxies matches CIDR ranges of either family, bare addresses, and unix", () => {
  const trusted = new TrustedProxies(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "unix"]);
  for (
    const host of ["10.0.0.1", "10.255.255.255", "192.168.1.7", "2001:db8::1", "2001:db8:ffff::", "unix:"]
  ) {
    assert.ok(trusted.trusts(host), host);
  }
  for (const host of ["11.0.0.1", "192.168.1.8", "2001:db9::1", "::1", "127.0.0.1", "localhost", "-", ""]) {
    assert.ok(!trusted.trusts(host), host);
  }
  const odd = new TrustedProxies(["172.16.0.0/12", "0.0.0.0/0"]);
  assert.ok(odd.trusts("8.8.8.8") && !odd.trusts("::1"), "/0 is every address of its family only");
  assert.ok(new TrustedProxies(["172.16.0.0/12"]).trusts("172.31.255.255"));
  assert.ok(!new TrustedProxies(["172.16.0.0/12"]).trusts("172.32.0.0"));
  assert.ok(!new TrustedProxies(["10.0.0.0/8"]).trusts("unix:"), "unix only when named");
});

Deno.test("TrustedProxies refuses what is not a range", () => {
  for (
    const bad of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0/8",
      "example.com",
      "localhost",
      "1.2.3.4/08",
      "",
    ]
  ) {
    assert.throws(() => new TrustedProxies([bad]), /not an address range/, bad);
  }
});

const PROXY = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);
const xff = (value: string, extra: string[] = []) => ["host", "a", "x-forwarded-for", value, ...extra];
const fwd = (value: string) => ["forwarded", value];

Deno.test("forwardedClient() takes the right-most untrusted X-Forwarded-For hop from a trusted peer", () => {
  assert.equal(forwardedClient("127.0.0.1", xff("203.0.113.9"), PROXY, "x-forwarded-for"), "203.0.113.9");
  // Two proxies of ours: the client is left of them.
  assert.equal(
    forwardedClient("127.0.0.1", xff("203.0.113.9, 10.1.2.3"), PROXY, "x-forwarded-for"),
    "203.0.113.9",
  );
  // Several lines of the field are one list, in order.
  assert.equal(
    forwardedClient(
      "127.0.0.1",
      [...xff("198.51.100.1"), "x-forwarded-for", "203.0.113.9"],
      PROXY,
      "x-forwarded-for",
    ),
    "203.0.113.9",
  );
  assert.equal(forwardedClient("127.0.0.1", xff("2001:DB8::1"), PROXY, "x-forwarded-for"), "2001:db8::1");
  assert.equal(
    forwardedClient("127.0.0.1", ["host", "a"], PROXY, "x-forwarded-for"),
    "127.0.0.1",
    "no field",
  );
  // Every hop trusted: the left-most is the furthest known.
  assert.equal(forwardedClient("127.0.0.1", xff("10.9.9.9, 10.1.1.1"), PROXY, "x-forwarded-for"), "10.9.9.9");
});

Deno.test("forwardedClient() spoofing: an untrusted peer's fields, and what a client wrote left of the proxy, are never taken", () => {
  // The peer itself is not trusted: whatever it says, it is the client.
  assert.equal(forwardedClient("203.0.113.9", xff("127.0.0.1"), PROXY, "x-forwarded-for"), "203.0.113.9");
  assert.equal(forwardedClient("203.0.113.9", fwd("for=127.0.0.1"), PROXY, "forwarded"), "203.0.113.9");
  // The client sent "X-Forwarded-For: 127.0.0.1" and the proxy appended what it saw.
  assert.equal(
    forwardedClient("127.0.0.1", xff("127.0.0.1, 198.51.100.7"), PROXY, "x-forwarded-for"),
    "198.51.100.7",
  );
  // A forged field the proxy does not write is ignored: it appends to X-Forwarded-For only.
  assert.equal(
    forwardedClient("127.0.0.1", [...fwd("for=10.0.0.1"), ...xff("198.51.100.7")], PROXY, "x-forwarded-for"),
    "198.51.100.7",
  );
  assert.equal(
    forwardedClient("127.0.0.1", [...fwd("for=198.51.100.7"), ...xff("10.0.0.1")], PROXY, "forwarded"),
    "198.51.100.7",
  );
  // Not an address where one is expected: nothing left of it is believed; the hop right of it stays.
  for (const junk of ["unknown", "_hidden", "localhost", "1.2.3.4.5", "<script>", ""]) {
    assert.equal(
      forwardedClient("127.0.0.1", xff(`${junk}, 10.0.0.5`), PROXY, "x-forwarded-for"),
      "10.0.0.5",
      junk,
    );
    assert.equal(
      forwardedClient("127.0.0.1", xff(`203.0.113.1, ${junk}`), PROXY, "x-forwarded-for"),
      junk ? "127.0.0.1" : "203.0.113.1",
      junk,
    );
  }
});

Deno.test("forwardedClient() reads Forwarded's for= in every RFC 7239 form", () => {
  const cases: [string, string][] = [
    ["for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"],
    ['for="192.0.2.60:47011"', "192.0.2.60"],
    ['for="[2001:db8:cafe::17]"', "2001:db8:cafe::17"],
    ['For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"],
    ["for=192.0.2.43, for=198.51.100.17", "198.51.100.17"],
    ["for=192.0.2.43, for=10.0.0.9", "192.0.2.43"],
    ['for=192.0.2.43;by="a,b", for=10.0.0.9', "192.0.2.43"],
    ["by=10.0.0.1", "127.0.0.1"],
    ["for=unknown", "127.0.0.1"],
    ['for="_gazonk"', "127.0.0.1"],
  ];
  for (const [value, client] of cases) {
    assert.equal(forwardedClient("127.0.0.1", fwd(value), PROXY, "forwarded"), client, value);
  }
});

Deno.test("forwardedScheme: the nearest proxy's proto= or X-Forwarded-Proto, http or https only, else null", () => {
  const fwd = (...values: string[]) => forwardedScheme(values.flatMap((v) => ["forwarded", v]), "forwarded");
  const xfp = (...values: string[]) =>
    forwardedScheme(values.flatMap((v) => ["x-forwarded-proto", v]), "x-forwarded-for");
  assert.equal(fwd("for=192.0.2.1;proto=https"), "https");
  assert.equal(fwd('for="[2001:db8::1]";PROTO="HTTPS"'), "https", "names and schemes are case-insensitive");
  assert.equal(fwd("proto=https", "for=192.0.2.1;proto=http"), "http", "lines join; the right-most element");
  assert.equal(fwd('for="a,b;proto=https";proto=http'), "http", "separators inside quotes do not split");
  assert.equal(fwd("proto=https, for=192.0.2.1"), null, "the nearest element names none");
  for (const bad of ["proto=ftp", "proto=", 'proto="https:"', "proto=https;proto=javascript"]) {
    assert.equal(fwd(bad), null, bad);
  }
  assert.equal(xfp("https"), "https");
  assert.equal(xfp(" HTTP "), "http");
  assert.equal(xfp("http, https"), "https");
  assert.equal(xfp("https", "http"), "http", "lines join; the right-most value");
  for (const bad of ["", "wss", "https,", "https://"]) assert.equal(xfp(bad), null, bad);
  assert.equal(forwardedScheme(["x-forwarded-proto", "https"], "forwarded"), null, "the other field");
  assert.equal(forwardedScheme(["forwarded", "proto=https"], "x-forwarded-for"), null, "the other field");
  assert.equal(forwardedScheme([], "forwarded"), null);
});
