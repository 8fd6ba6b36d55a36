// This machine's addresses that other machines may reach, for the start-up banner of a server
// listening on every address (--host 0.0.0.0 or ::). Read from the kernel's own tables in
// /proc/net through our system calls: no networking API is used, nothing leaves the machine.

import { readProcText } from "../../ffi/procfs.ts";

/**
 * The local IPv4 addresses in /proc/net/fib_trie (each `|-- A.B.C.D` followed by
 * `/32 host LOCAL`), without loopback (127.0.0.0/8), in the order found, once each.
 */
export function parseFibTrie(text: string): string[] {
  const found = new Set<string>();
  let last = "";
  for (const line of text.split("\n")) {
    const leaf = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leaf) last = leaf[1]!;
    else if (/^\s*\/32 host LOCAL/.test(line) && last && !last.startsWith("127.")) found.add(last);
  }
  return [...found];
}

/** Scope of an IPv6 address in /proc/net/if_inet6: 00 is global (RFC 4291), 20 link, 10 host. */
const GLOBAL_SCOPE = "00";

/**
 * The global IPv6 addresses in /proc/net/if_inet6 (`HEX32 ifindex prefix scope flags name`),
 * written in the usual short form (RFC 5952), once each.
 */
export function parseIfInet6(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split("\n")) {
    const [hex, , , scope] = line.trim().split(/\s+/);
    if (!hex || hex.length !== 32 || scope !== GLOBAL_SCOPE) continue;
    found.add(shortIpv6(hex));
  }
  return [...found];
}

/** 32 hex digits as an RFC 5952 address: no leading zeros, the longest run of zero groups as `::`. */
function shortIpv6(hex: string): string {
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(hex.slice(i * 4, i * 4 + 4), 16).toString(16));
  let best = -1, bestLength = 1; // §4.2.2: a single zero group is not shortened
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLength).join(":")}`;
}

/** Whether `host` is the wildcard address of its family (0.0.0.0, ::). */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || (/^[0:]+$/.test(host) && host.includes("::"));
}

/**
 * The addresses a listener on `host` can be reached at from the network: for 0.0.0.0 the IPv4
 * ones, for :: the IPv6 ones (rawserve's IPv6 sockets are IPV6_V6ONLY); none for another host.
 */
export function lanAddresses(host: string): string[] {
  if (!isWildcard(host)) return [];
  return host.includes(":")
    ? parseIfInet6(readProcText("/proc/net/if_inet6") ?? "")
    : parseFibTrie(readProcText("/proc/net/fib_trie") ?? "");
}
