// The PROXY protocol's header (HAProxy's proxy-protocol.txt, versions 1 and 2), sans I/O: a load
// balancer sends it first on a connection to say who its client is. The parser sees bytes and
// says: incomplete, malformed (why), or how many bytes the header took and whose address it gave.
// Incomplete is not an error; nothing here reads a socket.

import { formatIp, parseHost } from "../../ffi/sockaddr.ts";
import { AF_INET6 } from "../../ffi/libc.ts";

/** v1's longest header: "PROXY TCP6 " + two full IPv6 texts + two ports + spaces + CRLF (§2.1). */
export const V1_MAX = 107;
/** v2's fixed part: the 12-byte signature, version and command, family, and the length (§2.2). */
const V2_FIXED = 16;
/**
 * The longest v2 header accepted: the fixed part, the largest address block (two Unix paths,
 * 216 bytes) and room for the TLVs balancers add (ALPN, authority, unique ID, AWS's VPC endpoint,
 * TLS facts); a longer one is refused rather than buffered.
 */
export const PROXY_HEADER_MAX = 1024;

const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");

/** v2 commands (the low nibble of byte 13) and address families with transports (byte 14). */
const V2 = {
  VERSION: 0x20,
  LOCAL: 0x0,
  PROXY: 0x1,
  UNSPEC: 0x00,
  TCP4: 0x11,
  UDP4: 0x12,
  TCP6: 0x21,
  UDP6: 0x22,
  UNIX_STREAM: 0x31,
  UNIX_DGRAM: 0x32,
} as const;

/** More bytes are needed. */
export const INCOMPLETE = 0;

/** A complete header. */
export interface ProxyHeader {
  /** Bytes the header took; the connection's own bytes follow them. */
  consumed: number;
  /**
   * The client's address and port as the balancer saw them, or null when the header says to use
   * the connection's real peer (v2 LOCAL, a balancer's own health check; v1 UNKNOWN; an address
   * family with no IP, e.g. a Unix socket on the balancer's side).
   */
  source: { host: string; port: number } | null;
}

/** A header that can never become valid; `reason` is what the server counts. */
export interface ProxyHeaderError {
  error: string;
}

/**
 * Parses a PROXY protocol header at `buf[start, end)`, version 1 or 2 by its first bytes.
 * @returns INCOMPLETE, the header, or the reason it is malformed
 */
export function parseProxyHeader(
  buf: Uint8Array,
  start: number,
  end: number,
): ProxyHeader | ProxyHeaderError | typeof INCOMPLETE {
  if (end <= start) return INCOMPLETE;
  const first = buf[start];
  if (first === V2_SIGNATURE[0] && !startsWith(buf, start, end, V1_PREFIX)) return parseV2(buf, start, end);
  if (first === V1_PREFIX[0]) return parseV1(buf, start, end);
  return { error: "proxy header missing" };
}

/** Whether `buf[start, end)` begins with as much of `prefix` as it holds (a prefix of it is not yet wrong). */
function startsWith(buf: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  const n = Math.min(prefix.length, end - start);
  for (let i = 0; i < n; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

function parseV2(
  buf: Uint8Array,
  start: number,
  end: number,
): ProxyHeader | ProxyHeaderError | typeof INCOMPLETE {
  if (!startsWith(buf, start, end, V2_SIGNATURE)) return { error: "proxy header missing" };
  if (end - start < V2_FIXED) return INCOMPLETE;
  const versionCommand = buf[start + 12]!;
  const family = buf[start + 13]!;
  const length = (buf[start + 14]! << 8) | buf[start + 15]!;
  if ((versionCommand & 0xf0) !== V2.VERSION) return { error: "proxy header version" };
  const command = versionCommand & 0x0f;
  if (command !== V2.LOCAL && command !== V2.PROXY) return { error: "proxy header command" };
  if (V2_FIXED + length > PROXY_HEADER_MAX) return { error: "proxy header too long" };
  const need = family === V2.TCP4 || family === V2.UDP4
    ? 12
    : family === V2.TCP6 || family === V2.UDP6
    ? 36
    : family === V2.UNIX_STREAM || family === V2.UNIX_DGRAM
    ? 216
    : family === V2.UNSPEC
    ? 0
    : -1;
  if (need < 0) return { error: "proxy header family" };
  if (length < need) return { error: "proxy header length" };
  if (end - start < V2_FIXED + length) return INCOMPLETE;
  const consumed = V2_FIXED + length;
  // §2.2: LOCAL is the balancer speaking for itself (its health checks): keep the real peer and
  // ignore whatever address block follows. So do the families without an IP address.
  if (command === V2.LOCAL || need === 0 || need === 216) return { consumed, source: null };
  const at = start + V2_FIXED;
  const size = need === 12 ? 4 : 16;
  const portAt = at + 2 * size;
  return {
    consumed,
    source: { host: formatIp(buf.slice(at, at + size)), port: (buf[portAt]! << 8) | buf[portAt + 1]! },
  };
}

const V1_LINE =
  /^PROXY (?:UNKNOWN(?: [^\r\n]*)?|(TCP4|TCP6) ([0-9a-fA-F.:]+) ([0-9a-fA-F.:]+) ([0-9]+) ([0-9]+))\r\n$/;

function parseV1(
  buf: Uint8Array,
  start: number,
  end: number,
): ProxyHeader | ProxyHeaderError | typeof INCOMPLETE {
  if (!startsWith(buf, start, end, V1_PREFIX)) return { error: "proxy header missing" };
  const limit = Math.min(end, start + V1_MAX);
  let lf = -1;
  for (let i = start; i < limit; i++) {
    if (buf[i] === 0x0a) {
      lf = i;
      break;
    }
  }
  if (lf < 0) return end - start >= V1_MAX ? { error: "proxy header too long" } : INCOMPLETE;
  const line = LATIN1.decode(buf.subarray(start, lf + 1));
  const match = V1_LINE.exec(line);
  if (!match) return { error: "proxy header malformed" };
  const consumed = lf + 1 - start;
  if (!match[1]) return { consumed, source: null }; // UNKNOWN: the real peer
  const [, protocol, source, destination, sourcePort, destPort] = match as unknown as string[];
  if (!isPort(sourcePort!) || !isPort(destPort!)) return { error: "proxy header malformed" };
  // A dotted quad without leading zeros is its own canonical text; IPv6 is rewritten (RFC 5952).
  if (protocol === "TCP4") {
    if (!IPV4.test(source!) || !IPV4.test(destination!)) return { error: "proxy header malformed" };
    return { consumed, source: { host: source!, port: Number(sourcePort) } };
  }
  const from = parseHost(source!), to = parseHost(destination!);
  if (from?.family !== AF_INET6 || to?.family !== AF_INET6) return { error: "proxy header malformed" };
  return { consumed, source: { host: formatIp(from.bytes), port: Number(sourcePort) } };
}

const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const LATIN1 = new TextDecoder("latin1");

/** A decimal port without leading zeros, 0 to 65535 (§2.1). */
function isPort(text: string): boolean {
  return /^(?:0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535;
}
