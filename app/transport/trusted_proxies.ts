// Which peers may say who the client is (a PROXY header, Forwarded, X-Forwarded-For): address
// ranges in CIDR notation, and `unix` for peers on a Unix socket (nginx's set_real_ip_from unix:).
// Anyone else's word about the client is never taken.

import { parseHost, UNIX_PEER } from "../../ffi/sockaddr.ts";

/** One trusted range: the first `prefix` bits of `bytes` (4 or 16 of them). */
interface Range {
  bytes: Uint8Array;
  prefix: number;
}

/** A set of trusted sources, matched against a peer's address text. */
export class TrustedProxies {
  #ranges: Range[] = [];
  #unix = false;

  /**
   * @param sources `10.0.0.0/8`, `::1`, `192.168.1.7/32`, `unix`
   * @throws {Error} with a message naming the bad entry
   */
  constructor(sources: readonly string[]) {
    for (const source of sources) {
      if (source === "unix") {
        this.#unix = true;
        continue;
      }
      const range = parseRange(source);
      if (!range) throw new Error(`"${source}" is not an address range (e.g. 10.0.0.0/8, ::1/128) or unix`);
      this.#ranges.push(range);
    }
  }

  /** Whether no source is trusted. */
  get empty(): boolean {
    return !this.#unix && this.#ranges.length === 0;
  }

  /**
   * Whether a peer is trusted.
   * @param host the peer's address as text (`127.0.0.1`, `::1`, or `unix:` for a Unix socket)
   */
  trusts(host: string): boolean {
    if (host === UNIX_PEER) return this.#unix;
    const parsed = parseHost(host);
    if (!parsed || host === "localhost") return false;
    return this.#ranges.some((range) => inRange(parsed.bytes, range));
  }
}

/** `ADDR/BITS` or a bare address (all its bits). */
function parseRange(text: string): Range | null {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const parsed = address === "localhost" ? null : parseHost(address);
  if (!parsed) return null;
  const bits = parsed.bytes.length * 8;
  if (slash < 0) return { bytes: parsed.bytes, prefix: bits };
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits) return null;
  return { bytes: parsed.bytes, prefix: Number(prefixText) };
}

function inRange(bytes: Uint8Array, range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}
