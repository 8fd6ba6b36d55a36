// The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B): encoding with a bit accumulator,
// decoding four bits at a time through a table of 256 states built once at load. A decode that
// meets EOS, padding longer than 7 bits, or padding that is not the EOS prefix fails (§5.2).

/**
 * Code lengths of the 257 symbols (256 octets, then EOS), from RFC 7541 Appendix B. The RFC's
 * code is canonical: codes of one length are consecutive in symbol order, each length's first
 * code follows the previous length's last, so the lengths alone give every code (HUFFMAN_CODES).
 */
// deno-fmt-ignore
const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32-47
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48-63
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64-79
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80-95
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96-111
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112-127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // 256-256
];

/** The EOS symbol's index (RFC 7541 §5.2: never to be decoded). */
const EOS = 256;

/** Each symbol's code, right-aligned (at most 30 bits, so a 32-bit integer holds it). */
export const HUFFMAN_CODES: Uint32Array = new Uint32Array(257);
/** Each symbol's code length in bits. */
export const HUFFMAN_BITS: Uint8Array = new Uint8Array(HUFFMAN_LENGTHS);

{
  const order = [...HUFFMAN_LENGTHS.keys()].sort((a, b) => HUFFMAN_BITS[a]! - HUFFMAN_BITS[b]! || a - b);
  let code = 0, prev = HUFFMAN_BITS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const sym = order[i]!, bits = HUFFMAN_BITS[sym]!;
    if (i > 0) code = (code + 1) * 2 ** (bits - prev);
    prev = bits;
    HUFFMAN_CODES[sym] = code;
  }
}

// ---- the decoding automaton ---------------------------------------------------------------
// The code tree has 257 leaves, so 256 inner nodes: the states. From a state, four input bits
// lead to another state, emitting at most one symbol (the shortest code has 5 bits).

/** Next state for `state * 16 + nibble`. */
const NEXT = new Uint8Array(256 * 16);
/** Symbol emitted on that move, NONE, or FAILED (the bits reached EOS). */
const EMIT = new Int16Array(256 * 16);
/** Whether input may end in a state: the bits since the last symbol are all ones, at most 7 of them. */
const ACCEPTS = new Uint8Array(256);
const NONE = -1, FAILED = -2;

{
  // Inner nodes by number, two child slots each: >= 0 an inner node, < 0 the leaf of symbol ~child.
  const UNSET = 0x7fffffff;
  const children: number[] = [UNSET, UNSET];
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym]!, bits = HUFFMAN_BITS[sym]!;
    let node = 0;
    for (let b = bits - 1; b >= 0; b--) {
      const slot = node * 2 + (Math.floor(code / 2 ** b) & 1);
      if (b === 0) {
        children[slot] = ~sym;
        break;
      }
      if (children[slot] === UNSET) {
        children[slot] = nodes++;
        children.push(UNSET, UNSET);
      }
      node = children[slot]!;
    }
  }
  if (nodes !== 256) throw new Error(`Huffman tree has ${nodes} inner nodes, expected 256`);
  // Accepting states: the all-ones path from the root, depths 0 to 7 (RFC 7541 §5.2 padding).
  for (let node = 0, depth = 0; depth <= 7; depth++) {
    ACCEPTS[node] = 1;
    node = children[node * 2 + 1]!;
  }
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state, emit = NONE;
      for (let b = 3; b >= 0; b--) {
        const child = children[node * 2 + ((nibble >> b) & 1)]!;
        if (child >= 0) {
          node = child;
          continue;
        }
        node = 0;
        emit = ~child === EOS ? FAILED : ~child;
        if (emit === FAILED) break;
      }
      NEXT[state * 16 + nibble] = node;
      EMIT[state * 16 + nibble] = emit;
    }
  }
}

/** Decoded octets, reused between calls (a literal decodes to at most 8/5 of its length). */
let scratch = new Uint8Array(4096);

/**
 * Decodes a Huffman-coded string literal.
 * @param src the encoded bytes are `src[start, end)`
 * @returns the decoded octets as a Latin-1 string, or null when the input is not a valid
 *   encoding (EOS inside, or padding that is longer than 7 bits or not all ones)
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  const most = Math.ceil((end - start) * 8 / 5);
  if (scratch.length < most) scratch = new Uint8Array(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0, state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let move = state * 16 + (byte >> 4);
    let emit = EMIT[move]!;
    if (emit >= 0) out[n++] = emit;
    else if (emit === FAILED) return null;
    state = NEXT[move]!;
    move = state * 16 + (byte & 15);
    emit = EMIT[move]!;
    if (emit >= 0) out[n++] = emit;
    else if (emit === FAILED) return null;
    state = NEXT[move]!;
  }
  if (ACCEPTS[state] !== 1) return null;
  return latin1Of(out, n);
}

/** The Latin-1 string of `buf[0, n)`, in slices small enough for fromCharCode's arguments. */
function latin1Of(buf: Uint8Array, n: number): string {
  if (n <= 16) {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  let s = "";
  for (let i = 0; i < n; i += 8192) {
    s += String.fromCharCode.apply(null, buf.subarray(i, Math.min(n, i + 8192)) as unknown as number[]);
  }
  return s;
}

/**
 * The length of a string's Huffman encoding.
 * @param s a Latin-1 string (each code unit is an octet; higher bits are ignored)
 * @returns bytes, padding included
 */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_BITS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

/**
 * Writes a string's Huffman encoding, padded with the most significant bits of EOS (ones).
 * @param s a Latin-1 string
 * @param dst receives `huffmanLength(s)` bytes at `offset`
 * @returns the offset after the last byte written
 */
export function huffmanEncode(s: string, dst: Uint8Array, offset: number): number {
  let o = offset, cur = 0, free = 8;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let code = HUFFMAN_CODES[sym]!, bits = HUFFMAN_BITS[sym]!;
    while (bits >= free) {
      bits -= free;
      dst[o++] = cur | (code >>> bits);
      code &= (1 << bits) - 1;
      cur = 0;
      free = 8;
    }
    if (bits > 0) {
      cur |= code << (free - bits);
      free -= bits;
    }
  }
  if (free < 8) dst[o++] = cur | ((1 << free) - 1);
  return o;
}
