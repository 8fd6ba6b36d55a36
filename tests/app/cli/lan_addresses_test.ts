// The banner's LAN addresses come from the kernel's tables as /proc/net shows them: the local
// IPv4 leaves of fib_trie and the global IPv6 rows of if_inet6, loopback and link-local left out.

import assert from "node:assert/strict";
import { isWildcard, parseFibTrie, parseIfInet6 } from "../../../app/cli/lan_addresses.ts";
import { absolutePath } from "../../../app/cli/banner.ts";

const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.0
              /24 link UNICAST
           |-- 192.168.1.23
              /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
Local:
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.23
              /32 host LOCAL
`;

Deno.test("parseFibTrie() finds the local IPv4 addresses once each, without loopback", () => {
  assert.deepEqual(parseFibTrie(FIB_TRIE), ["192.168.1.23"]);
  assert.deepEqual(parseFibTrie(""), []);
});

Deno.test("parseIfInet6() keeps global addresses (RFC 5952 form), not loopback or link-local", () => {
  const table = [
    "fe8000000000000000fc00fffe000001 04 40 20 80     eth0",
    "fd000000000000000000000000000002 04 40 00 82     eth0",
    "20010db8000000010000000000000abc 04 40 00 80     eth0",
    "00000000000000000000000000000001 01 80 10 80       lo",
    "20010db8000000000001000000000001 04 40 00 80     eth0",
  ].join("\n");
  assert.deepEqual(parseIfInet6(table), ["fd00::2", "2001:db8:0:1::abc", "2001:db8::1:0:0:1"]);
});

Deno.test("isWildcard() knows 0.0.0.0 and ::, nothing else", () => {
  for (const host of ["0.0.0.0", "::", "0::0"]) assert.ok(isWildcard(host), host);
  for (const host of ["127.0.0.1", "::1", "localhost", "192.168.1.23"]) assert.ok(!isWildcard(host), host);
});

Deno.test("absolutePath() resolves from the working directory and drops . and ..", () => {
  assert.equal(absolutePath("/a/./b/../c/"), "/a/c");
  assert.equal(absolutePath("."), Deno.cwd());
  assert.equal(absolutePath("docs/../site"), `${Deno.cwd()}/site`);
  assert.equal(absolutePath("/.."), "/");
});
