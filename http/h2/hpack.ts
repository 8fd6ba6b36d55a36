// HPACK (RFC 7541): the integer and string primitives, a decoder bounded by a header-list size
// that stops materialising fields as soon as the bound is passed, and an encoder for responses.
// The tables are in hpack_tables.ts. Strings are Latin-1: one code unit per octet, as in http/.

import { huffmanDecode, huffmanEncode, huffmanLength } from "./huffman.ts";
import {
  DEFAULT_TABLE_SIZE,
  DynamicTable,
  ENTRY_OVERHEAD,
  HpackError,
  MAX_INTEGER,
  STATIC_COUNT,
  STATIC_NAME,
  STATIC_PAIR,
  STATIC_TABLE,
} from "./hpack_tables.ts";

// ---- primitives -----------------------------------------------------------------------------

/** Where a decoding step left off: the decoded value and the offset after it. */
let decodedAt = 0;

/**
 * Decodes an integer with an N-bit prefix (RFC 7541 §5.1); sets decodedAt.
 * @throws {HpackError} when truncated or larger than MAX_INTEGER
 */
export function decodeInteger(buf: Uint8Array, p: number, end: number, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  let value = buf[p++]! & mask;
  if (value < mask) {
    decodedAt = p;
    return value;
  }
  for (let m = 1;; m *= 128) {
    if (p >= end) throw new HpackError("Truncated integer in header block");
    if (m > 2 ** 28) throw new HpackError("Integer too long in header block"); // 5 bytes carry 31 bits
    const b = buf[p++]!;
    value += (b & 127) * m;
    if (value > MAX_INTEGER) throw new HpackError("Integer too large in header block");
    if ((b & 128) === 0) break;
  }
  decodedAt = p;
  return value;
}

/**
 * Appends an integer with an N-bit prefix; the prefix's high bits are `flags`.
 * @returns the offset after it
 */
export function encodeInteger(
  dst: Uint8Array,
  o: number,
  value: number,
  prefixBits: number,
  flags: number,
): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    dst[o++] = flags | value;
    return o;
  }
  dst[o++] = flags | mask;
  value -= mask;
  while (value >= 128) {
    dst[o++] = (value & 127) | 128;
    value = Math.floor(value / 128);
  }
  dst[o++] = value;
  return o;
}

/** A byte buffer the encoder appends to (http/'s OutputBuffer and the frame writer are ones). */
export interface ByteSink {
  bytes: Uint8Array;
  length: number;
  /** Makes room for `n` more bytes. */
  ensure(n: number): void;
}

/**
 * Appends a string literal (RFC 7541 §5.2), Huffman-coded when that is shorter.
 * @param huffman whether Huffman coding may be used
 */
export function encodeString(out: ByteSink, s: string, huffman = true): void {
  const coded = huffman ? huffmanLength(s) : s.length;
  const useHuffman = coded < s.length;
  const n = useHuffman ? coded : s.length;
  out.ensure(n + 6);
  let o = encodeInteger(out.bytes, out.length, n, 7, useHuffman ? 0x80 : 0);
  if (useHuffman) o = huffmanEncode(s, out.bytes, o);
  else {
    const b = out.bytes;
    for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
  }
  out.length = o;
}

// ---- the decoder -----------------------------------------------------------------------------

/**
 * Decodes header blocks, keeping the dynamic table from block to block (one per connection).
 * A decode that passes the header-list bound goes on to the end of the block, keeping the table
 * in step, but stops keeping fields: the bound costs no memory past it (an HPACK bomb of
 * repeated references to a large entry is refused before it is materialised).
 */
export class HpackDecoder {
  readonly table: DynamicTable;
  /** Our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for (RFC 7541 §6.3). */
  #limit: number;

  /** @param limit the table size we announced (SETTINGS_HEADER_TABLE_SIZE) */
  constructor(limit = DEFAULT_TABLE_SIZE) {
    this.#limit = limit;
    this.table = new DynamicTable(limit);
  }

  /**
   * Decodes one complete header block.
   * @param buf the block is `buf[start, end)`
   * @param out receives names and values, alternating, in order
   * @param maxListSize the bound on the header list's size (RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE)
   * @returns whether the list fits the bound; when it does not, `out` holds only a prefix of it
   * @throws {HpackError} on any malformed representation (a connection error)
   */
  decode(buf: Uint8Array, start: number, end: number, out: string[], maxListSize: number): boolean {
    const table = this.table;
    let p = start, listSize = 0, fits = true, fieldsSeen = false;
    while (p < end) {
      const b = buf[p]!;
      if (b & 0x80) { // §6.1 indexed field
        const index = decodeInteger(buf, p, end, 7);
        p = decodedAt;
        if (index === 0) throw new HpackError("Index 0 in header block");
        fieldsSeen = true;
        const name = this.#name(index), value = this.#value(index);
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (fits && listSize <= maxListSize) out.push(name, value);
        else fits = false;
        continue;
      }
      if ((b & 0xe0) === 0x20) { // §6.3 dynamic table size update
        // RFC 7541 §4.2: only at the beginning of a header block.
        if (fieldsSeen) throw new HpackError("Table size update after a field");
        const size = decodeInteger(buf, p, end, 5);
        p = decodedAt;
        if (size > this.#limit) throw new HpackError("Table size update above SETTINGS_HEADER_TABLE_SIZE");
        table.resize(size);
        continue;
      }
      // §6.2 literals: with incremental indexing (6-bit prefix), without or never indexed (4-bit).
      fieldsSeen = true;
      const indexing = (b & 0xc0) === 0x40;
      const nameIndex = decodeInteger(buf, p, end, indexing ? 6 : 4);
      p = decodedAt;
      let name: string;
      if (nameIndex !== 0) name = this.#name(nameIndex);
      else {
        name = this.#string(buf, p, end);
        p = decodedAt;
      }
      // The value: decoded only when kept or when it may enter the table.
      if (p >= end) throw new HpackError("Truncated field in header block");
      const huffman = (buf[p]! & 0x80) !== 0;
      const length = decodeInteger(buf, p, end, 7);
      const valueStart = decodedAt, valueEnd = valueStart + length;
      if (valueEnd > end) throw new HpackError("Truncated string in header block");
      // Huffman turns at most 30 bits into an octet: the value has at least length * 8 / 30 octets.
      const least = huffman ? Math.ceil(length * 8 / 30) : length;
      const overBound = !fits || listSize + name.length + least + ENTRY_OVERHEAD > maxListSize;
      const intoTable = indexing && name.length + least + ENTRY_OVERHEAD <= table.maxSize;
      if (overBound && !intoTable) {
        if (indexing) table.clear(); // larger than the table: empties it (RFC 7541 §4.4)
        fits = false;
        p = valueEnd;
        continue;
      }
      const value = huffman ? huffmanDecode(buf, valueStart, valueEnd) : ascii(buf, valueStart, valueEnd);
      if (value === null) throw new HpackError("Invalid Huffman code in header block");
      p = valueEnd;
      if (indexing) table.add(name, value);
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (fits && listSize <= maxListSize) out.push(name, value);
      else fits = false;
    }
    return fits;
  }

  /** Reads a string literal at `p` (sets decodedAt). */
  #string(buf: Uint8Array, p: number, end: number): string {
    if (p >= end) throw new HpackError("Truncated field in header block");
    const huffman = (buf[p]! & 0x80) !== 0;
    const length = decodeInteger(buf, p, end, 7);
    const from = decodedAt, to = from + length;
    if (to > end) throw new HpackError("Truncated string in header block");
    const s = huffman ? huffmanDecode(buf, from, to) : ascii(buf, from, to);
    if (s === null) throw new HpackError("Invalid Huffman code in header block");
    decodedAt = to;
    return s;
  }

  #name(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1]![0];
    const i = index - STATIC_COUNT - 1;
    if (i >= this.table.length) throw new HpackError(`Index ${index} beyond the tables`);
    return this.table.name(i);
  }

  #value(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1]![1];
    return this.table.value(index - STATIC_COUNT - 1); // #name checked the index
  }
}

/** `buf[start, end)` as a Latin-1 string. */
function ascii(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 24) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  let s = "";
  for (let i = start; i < end; i += 8192) {
    s += String.fromCharCode.apply(null, buf.subarray(i, Math.min(end, i + 8192)) as unknown as number[]);
  }
  return s;
}

// ---- the encoder -----------------------------------------------------------------------------

/**
 * Fields not worth a place in the dynamic table: their values differ from response to response
 * (lengths, ranges, validators), would displace fields that repeat, or are secrets.
 */
const NOT_INDEXED: ReadonlySet<string> = new Set([
  "content-length",
  "content-range",
  "etag",
  "last-modified",
  "location",
  "set-cookie",
]);
/** A value longer than this share of the table would evict most of it for one field. */
const INDEX_SHARE = 4;
/** The most table we use for responses, whatever the peer allows: bounds memory per connection. */
export const ENCODER_TABLE_LIMIT = DEFAULT_TABLE_SIZE;
/**
 * Response values already checked (RFC 9113 §8.2.1) and coded as string literals (§5.2, Huffman
 * when shorter), shared by every connection's encoder (one thread): a site's values repeat from
 * response to response (validators, types, lengths, the Date of this second), and checking and
 * Huffman-coding them again per response cost more than the rest of the head.
 */
const LITERALS = new Map<string, Uint8Array>();
/** Longer values are checked and coded each time: with MAX_LITERALS, bounds LITERALS' memory. */
const LITERAL_MAX_CHARS = 128;
/** Values LITERALS remembers at most (~150 KiB); past it, it starts again. */
const MAX_LITERALS = 1024;
/** Field names already checked (RFC 9113 §8.2.1), shared likewise, starting again past MAX_LITERALS. */
const CHECKED_NAMES = new Set<string>();

/**
 * Encodes header blocks for responses, keeping a dynamic table (one per connection): static
 * indexes for common fields, incremental indexing for fields that repeat (Date, Server,
 * Content-Type, Cache-Control…), Huffman coding when shorter.
 */
export class HpackEncoder {
  readonly table: DynamicTable = new DynamicTable(DEFAULT_TABLE_SIZE);
  /** Whether strings may be Huffman-coded (off only to reproduce RFC 7541's plain examples). */
  #huffman: boolean;
  /** Insertion number of each field (by name, then value) and name in the dynamic table. */
  #pairs = new Map<string, Map<string, number>>();
  /** Fields in `#pairs`, evicted ones included until #prune. */
  #pairCount = 0;
  #names = new Map<string, number>();
  /** A size update owed at the start of the next block (RFC 7541 §4.2), or -1. */
  #pendingSize = -1;
  /** The smallest size the table passed through since the last block (RFC 7541 §4.2). */
  #lowestSize = -1;

  /** @param options.huffman whether to Huffman-code strings when shorter (default true) */
  constructor(options: { huffman?: boolean } = {}) {
    this.#huffman = options.huffman ?? true;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: use up to it (at most ENCODER_TABLE_LIMIT),
   * announced at the start of the next block.
   */
  setPeerLimit(size: number): void {
    const next = Math.min(size, ENCODER_TABLE_LIMIT);
    if (next === this.table.maxSize && this.#pendingSize === -1) return;
    this.#lowestSize = this.#lowestSize === -1 ? next : Math.min(this.#lowestSize, next);
    this.#pendingSize = next;
    this.table.resize(next);
  }

  /**
   * Appends one header block.
   * @param out receives the block
   * @param fields lower-case names and values, alternating (pseudo-header fields first)
   * @throws {TypeError} on a name with upper-case letters or a value with CR, LF or NUL (RFC 9113 §8.2.1)
   */
  encode(out: ByteSink, fields: readonly string[]): void {
    if (this.#pendingSize !== -1) {
      out.ensure(12);
      // RFC 7541 §4.2: the smallest size reached first when the table shrank and grew again.
      if (this.#lowestSize < this.#pendingSize) {
        out.length = encodeInteger(out.bytes, out.length, this.#lowestSize, 5, 0x20);
      }
      out.length = encodeInteger(out.bytes, out.length, this.#pendingSize, 5, 0x20);
      this.#pendingSize = -1;
      this.#lowestSize = -1;
    }
    for (let i = 0; i + 1 < fields.length; i += 2) this.field(out, fields[i]!, fields[i + 1]!);
  }

  /** Appends one field's representation. */
  field(out: ByteSink, name: string, value: string): void {
    // Both checked before the table is touched: a field that throws leaves it as it was.
    const literal = this.#huffman ? LITERALS.get(value) : undefined;
    if (literal === undefined) checkValue(value);
    if (!CHECKED_NAMES.has(name)) {
      checkName(name);
      if (CHECKED_NAMES.size >= MAX_LITERALS) CHECKED_NAMES.clear();
      CHECKED_NAMES.add(name);
    }
    const table = this.table;
    const staticPair = STATIC_PAIR.get(name)?.get(value);
    if (staticPair !== undefined) return this.#indexed(out, staticPair);
    const values = this.#pairs.get(name);
    const k = values?.get(value);
    if (k !== undefined && table.isLive(k)) return this.#indexed(out, table.indexOf(k));
    let nameIndex = STATIC_NAME.get(name) ?? 0;
    if (nameIndex === 0) {
      const kn = this.#names.get(name);
      if (kn !== undefined && table.isLive(kn)) nameIndex = table.indexOf(kn);
    }
    const size = name.length + value.length + ENTRY_OVERHEAD;
    const indexing = !NOT_INDEXED.has(name) && size * INDEX_SHARE <= table.maxSize;
    out.ensure(6);
    out.length = encodeInteger(out.bytes, out.length, nameIndex, indexing ? 6 : 4, indexing ? 0x40 : 0);
    if (nameIndex === 0) encodeString(out, name, this.#huffman);
    if (literal !== undefined) {
      out.ensure(literal.length);
      out.bytes.set(literal, out.length);
      out.length += literal.length;
    } else this.#value(out, value);
    if (!indexing) return;
    table.add(name, value);
    const inserted = table.inserted - 1;
    if (k === undefined) this.#pairCount++; // a field evicted and indexed again keeps its place
    if (values === undefined) this.#pairs.set(name, new Map([[value, inserted]]));
    else values.set(value, inserted);
    if (!STATIC_NAME.has(name)) this.#names.set(name, inserted);
    if (this.#pairCount > 4 * table.length + 64) this.#prune();
  }

  /** Appends a checked value's literal, remembering it in LITERALS when short enough. */
  #value(out: ByteSink, value: string): void {
    const start = out.length;
    encodeString(out, value, this.#huffman);
    if (!this.#huffman || value.length > LITERAL_MAX_CHARS) return;
    if (LITERALS.size >= MAX_LITERALS) LITERALS.clear();
    LITERALS.set(value, out.bytes.slice(start, out.length));
  }

  #indexed(out: ByteSink, index: number): void {
    out.ensure(6);
    out.length = encodeInteger(out.bytes, out.length, index, 7, 0x80);
  }

  /** Forgets evicted entries, so the maps stay proportional to the table. */
  #prune(): void {
    let count = 0;
    for (const [name, values] of this.#pairs) {
      for (const [value, k] of values) {
        if (this.table.isLive(k)) count++;
        else values.delete(value);
      }
      if (values.size === 0) this.#pairs.delete(name);
    }
    this.#pairCount = count;
    for (const [key, k] of this.#names) if (!this.table.isLive(k)) this.#names.delete(key);
  }
}

/**
 * RFC 9113 §8.2.1: a field name has no upper-case letters; every character is an octet (Latin-1).
 * @throws {TypeError}
 */
function checkName(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 0xff || c <= 32 || c === 58 && i > 0) {
      throw new TypeError(`Invalid response field name: ${JSON.stringify(name)}`);
    }
  }
}

/**
 * RFC 9113 §8.2.1: a field value has no CR, LF or NUL; every character is an octet (Latin-1).
 * @throws {TypeError}
 */
function checkValue(value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || c === 13 || c === 10 || c === 0) {
      throw new TypeError(`Invalid character in response header: ${JSON.stringify(value)}`);
    }
  }
}
