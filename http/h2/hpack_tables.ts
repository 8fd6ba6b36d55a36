// HPACK's tables (RFC 7541 §2.3, Appendix A): the static table with its lookups by name and by
// pair, and the dynamic table both sides keep. hpack.ts holds the primitives, decoder and encoder.

/** RFC 7541 §4.1: an entry's size is its name's and value's octets plus this overhead. */
export const ENTRY_OVERHEAD = 32;
/** RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE's initial value, both ways. */
export const DEFAULT_TABLE_SIZE = 4096;
/**
 * Largest integer a representation may carry. Lengths and indexes past 2^31 mean nothing in a
 * header block bounded far below, and keeping integers small keeps arithmetic exact.
 */
export const MAX_INTEGER = 0x7fffffff;

/** RFC 7541 Appendix A: the static table; entry i is index i + 1. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
export const STATIC_COUNT = STATIC_TABLE.length;

/** Static index of each name (its first entry) and of each name and value pair (by name, then value). */
export const STATIC_NAME = new Map<string, number>();
export const STATIC_PAIR = new Map<string, Map<string, number>>();
for (let i = STATIC_COUNT - 1; i >= 0; i--) {
  const [name, value] = STATIC_TABLE[i]!;
  STATIC_NAME.set(name, i + 1);
  if (value === "") continue;
  let values = STATIC_PAIR.get(name);
  if (!values) STATIC_PAIR.set(name, values = new Map());
  values.set(value, i + 1);
}

/** A header block the decoder cannot make sense of: RFC 9113 §4.3, a connection error of type COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * The dynamic table (RFC 7541 §2.3.2, §4): newest first, evicting the oldest to stay within its
 * maximum size. Entries live in a ring indexed by insertion number, so an encoder can remember
 * where a field went without renumbering on every insertion.
 */
export class DynamicTable {
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  /** Entries ever inserted; entry number k lives at slot k % capacity. */
  #inserted = 0;
  #count = 0;
  #size = 0;
  #maxSize: number;

  /** @param maxSize the most octets the entries may take (RFC 7541 §4.1) */
  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** Entries in the table. */
  get length(): number {
    return this.#count;
  }

  /** Octets the entries take, by RFC 7541 §4.1's count. */
  get size(): number {
    return this.#size;
  }

  /** The bound on `size`. */
  get maxSize(): number {
    return this.#maxSize;
  }

  /** Entries ever inserted (an entry's number stays valid while `isLive` says so). */
  get inserted(): number {
    return this.#inserted;
  }

  /** Whether the entry with insertion number `k` is still in the table. */
  isLive(k: number): boolean {
    return k >= this.#inserted - this.#count && k < this.#inserted;
  }

  /** The HPACK index (62 and up) of the entry with insertion number `k`. */
  indexOf(k: number): number {
    return STATIC_COUNT + this.#inserted - k;
  }

  /** The name of entry `i`, 0 the newest. */
  name(i: number): string {
    return this.#names[(this.#inserted - 1 - i) % this.#names.length]!;
  }

  /** The value of entry `i`, 0 the newest. */
  value(i: number): string {
    return this.#values[(this.#inserted - 1 - i) % this.#values.length]!;
  }

  /**
   * Inserts a field, evicting old entries to make room; an entry larger than the whole table
   * empties it and is not kept (RFC 7541 §4.4).
   */
  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.#evictTo(this.#maxSize - size);
    if (size > this.#maxSize) return;
    if (this.#count === this.#names.length) this.#grow();
    const slot = this.#inserted % this.#names.length;
    this.#names[slot] = name;
    this.#values[slot] = value;
    this.#inserted++;
    this.#count++;
    this.#size += size;
  }

  /** Empties the table, as an entry larger than it does (RFC 7541 §4.4). */
  clear(): void {
    this.#evictTo(0);
  }

  /** Changes the maximum size, evicting as needed (RFC 7541 §4.3). */
  resize(maxSize: number): void {
    this.#maxSize = maxSize;
    this.#evictTo(maxSize);
  }

  #evictTo(bound: number): void {
    while (this.#size > bound && this.#count > 0) {
      const slot = (this.#inserted - this.#count) % this.#names.length;
      this.#size -= this.#names[slot]!.length + this.#values[slot]!.length + ENTRY_OVERHEAD;
      this.#names[slot] = "";
      this.#values[slot] = "";
      this.#count--;
    }
  }

  /** Doubles the ring, keeping each live entry at slot (number % capacity). */
  #grow(): void {
    const capacity = this.#names.length * 2;
    const names: string[] = new Array(capacity), values: string[] = new Array(capacity);
    for (let k = this.#inserted - this.#count; k < this.#inserted; k++) {
      names[k % capacity] = this.#names[k % this.#names.length]!;
      values[k % capacity] = this.#values[k % this.#values.length]!;
    }
    this.#names = names;
    this.#values = values;
  }
}
