// sockaddr_in / sockaddr_in6 encoding and decoding (ports and addresses in network byte order).
// Accepts IPv4 dotted quads, IPv6 literals (with or without brackets) and "localhost".

import { AF_INET, AF_INET6, AF_UNIX } from "./libc.ts";

/** sizeof(struct sockaddr_in6): large enough for either family, used for getsockname. */
export const SOCKADDR_MAX = 28;

/** A parsed listen address. */
export interface SocketAddress {
  family: typeof AF_INET | typeof AF_INET6 | typeof AF_UNIX;
  /** The canonical text of the address, e.g. `127.0.0.1` or `::1`; {@linkcode UNIX_PEER} for a Unix socket. */
  host: string;
  port: number;
}

/** How a Unix socket's peer is written where an address goes (nginx's `$remote_addr` says the same). */
export const UNIX_PEER = "unix:";

/**
 * Parses a host literal for listening.
 * @param host `127.0.0.1`, `::1`, `[::1]` or `localhost` (which means 127.0.0.1)
 * @returns the family and 4 or 16 address bytes, or null if it is not an IP literal
 */
export function parseHost(host: string): { family: number; bytes: Uint8Array } | null {
  if (host === "localhost") host = "127.0.0.1";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const v4 = parseIpv4(host);
  if (v4) return { family: AF_INET, bytes: v4 };
  const v6 = parseIpv6(host);
  if (v6) return { family: AF_INET6, bytes: v6 };
  return null;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part); // embedded IPv4 tail, e.g. ::ffff:127.0.0.1
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * Encodes `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes).
 * @param family AF_INET or AF_INET6
 * @param bytes the 4 or 16 address bytes, already in network order
 * @param port host-order port; stored big-endian (network order)
 * @returns the bytes to pass to bind()
 */
export function encodeSockaddr(family: number, bytes: Uint8Array, port: number): Uint8Array {
  const buf = new Uint8Array(family === AF_INET ? 16 : 28);
  const view = new DataView(buf.buffer);
  view.setUint16(0, family, true); // sa_family_t is host order (little-endian here)
  view.setUint16(2, port, false); // in_port_t is network order
  if (family === AF_INET) buf.set(bytes, 4);
  else buf.set(bytes, 8); // after sin6_flowinfo (u32 at 4); sin6_scope_id (u32 at 24) stays 0
  return buf;
}

/**
 * Decodes a sockaddr filled by getsockname/accept.
 * @param buf at least the length the kernel reported
 * @returns family, printable host and host-order port
 */
export function decodeSockaddr(buf: Uint8Array): SocketAddress {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = view.getUint16(0, true);
  if (family === AF_UNIX) return { family: AF_UNIX, host: UNIX_PEER, port: 0 };
  const port = view.getUint16(2, false);
  if (family === AF_INET) return { family: AF_INET, host: formatIp(buf.subarray(4, 8)), port };
  return { family: AF_INET6, host: formatIp(buf.subarray(8, 24)), port };
}

/**
 * The text of an IP address from its network-order bytes: dotted quad for 4 bytes, RFC 5952
 * form for 16 (the same text decodeSockaddr gives for the same address).
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return compressIpv6(groups);
}

// RFC 5952 §4.2: the longest run of two or more zero groups becomes "::".
function compressIpv6(groups: string[]): string {
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  const head = groups.slice(0, bestStart).join(":");
  const tail = groups.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

/**
 * `host:port`, with brackets around an IPv6 literal (RFC 3986 §3.2.2): the one formatter of an
 * address for messages, logs and URLs.
 */
export function formatAuthority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
