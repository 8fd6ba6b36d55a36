// The client behind trusted proxies, from `Forwarded` (RFC 7239) or, without it,
// `X-Forwarded-For`: taken only when the connection's peer is a trusted proxy, and then the
// right-most address that is not trusted (each proxy appends the address it saw, so everything
// left of the first untrusted hop is the client's own word, which anyone can forge).

import { formatIp, parseHost } from "../../ffi/sockaddr.ts";
import type { TrustedProxies } from "./trusted_proxies.ts";
import type { HttpRequest } from "../../http/types.ts";

/**
 * Which field the trusted proxies write. One only: a proxy appends to the field it knows and
 * passes any other on as the client sent it, so reading both would believe a forged one.
 */
export type ForwardedField = "forwarded" | "x-forwarded-for";

/** The field each kind names the client in, and the one it names the scheme in (its de-facto pair). */
const FIELDS = {
  forwarded: { client: "forwarded", scheme: "forwarded" },
  "x-forwarded-for": { client: "x-forwarded-for", scheme: "x-forwarded-proto" },
} as const;

/** The schemes a proxy's word may set; any other value is ignored. */
export type ForwardedScheme = "http" | "https";

/** An engine request whose scheme a trusted proxy named: set only then, read for the web Request's URL. */
export type ForwardedRequest = HttpRequest & { forwardedScheme?: ForwardedScheme };

/**
 * The client's address for a request.
 * @param peer the connection's peer (after any PROXY header)
 * @param headers the request's fields, lower-case names and values alternating
 * @returns `peer` unless it is trusted and the field names another; never an address a field
 *   gives that is not an IP literal (obfuscated identifiers, `unknown`: the hop right of it stays)
 */
export function forwardedClient(
  peer: string,
  headers: readonly string[],
  trusted: TrustedProxies,
  field: ForwardedField,
): string {
  return trusted.trusts(peer) ? clientBehind(peer, headers, trusted, field) : peer;
}

/**
 * forwardedClient for a peer the caller has found trusted (one address parse per request, not two).
 * @returns `peer` unless the field names another client
 */
export function clientBehind(
  peer: string,
  headers: readonly string[],
  trusted: TrustedProxies,
  field: ForwardedField,
): string {
  const value = joinFields(headers, FIELDS[field].client);
  if (value === null) return peer;
  const hops = field === "forwarded" ? forwardedFor(value) : xForwardedFor(value);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (hop === null) return client; // not an address: nothing left of it can be believed
    client = hop;
    if (!trusted.trusts(hop)) return hop;
  }
  return client;
}

/**
 * The scheme the client used, as the nearest proxy says: the right-most `proto=` of `Forwarded`
 * (RFC 7239 §5.4) or the right-most value of `X-Forwarded-Proto`, the one the trusted peer wrote.
 * Call it only when the connection's peer is a trusted proxy: anyone else's word is forgeable.
 * @returns null when the field is absent or names neither http nor https; nothing is allocated
 *   when the field is absent
 */
export function forwardedScheme(headers: readonly string[], field: ForwardedField): ForwardedScheme | null {
  const value = joinFields(headers, FIELDS[field].scheme);
  if (value === null) return null;
  let proto: string | undefined;
  if (field === "forwarded") {
    const elements = splitOutsideQuotes(value, ",");
    proto = pairValue(elements[elements.length - 1]!, "proto");
  } else {
    proto = value.slice(value.lastIndexOf(",") + 1);
  }
  // RFC 3986 §3.1: schemes are case-insensitive.
  const scheme = proto?.trim().toLowerCase();
  return scheme === "http" || scheme === "https" ? scheme : null;
}

/** Every line of a field, joined with commas (RFC 9110 §5.3), or null when absent. */
function joinFields(headers: readonly string[], name: string): string | null {
  let joined: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) joined = joined === null ? headers[i + 1]! : `${joined},${headers[i + 1]}`;
  }
  return joined;
}

/** RFC 7239 §4: each element's `for=`, as a canonical address or null; elements without one are skipped. */
function forwardedFor(value: string): (string | null)[] {
  const hops: (string | null)[] = [];
  for (const element of splitOutsideQuotes(value, ",")) {
    const node = pairValue(element, "for");
    if (node !== undefined) hops.push(nodeAddress(node));
  }
  return hops;
}

function xForwardedFor(value: string): (string | null)[] {
  return value.split(",").map((part) => part.trim()).filter((part) => part !== "").map(nodeAddress);
}

/** The value of `name=` in one element (`for=1.2.3.4;proto=https`), unquoted; undefined when absent. */
function pairValue(element: string, name: string): string | undefined {
  let found: string | undefined;
  for (const pair of splitOutsideQuotes(element, ";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    }
    found = value;
  }
  return found;
}

/**
 * A node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]`, `[2001:db8::17]:4711`,
 * or a bare IPv6 literal (X-Forwarded-For writes them so); null for `unknown`, `_hidden` and
 * anything else.
 */
function nodeAddress(node: string): string | null {
  let host = node;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) return null;
    host = host.slice(1, close);
  } else if (host.split(":").length === 2) {
    host = host.slice(0, host.indexOf(":")); // IPv4 with a port
  }
  if (host === "localhost") return null;
  const parsed = parseHost(host);
  return parsed ? formatIp(parsed.bytes) : null;
}

/** Splits on `separator` where it is not inside a quoted-string (RFC 9110 §5.6.4). */
function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0, quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === separator) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}
