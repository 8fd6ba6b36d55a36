// permessage-deflate (RFC 7692): the negotiation (§5, §7.1), and per connection the compression
// of outgoing messages and the inflation of incoming ones (§7.2), over raw DEFLATE streams the
// application layer provides (zlib through FFI; http/ never loads a library). Without context
// takeover a stream serves one message and goes back to a pool every connection shares, so an
// idle connection holds no zlib memory; with it, the connection keeps its own streams.

import { CLOSE_CODE } from "./frame.ts";
import type { MessageInflater } from "./receiver.ts";

/** zlib's flush modes (zlib.h), as the codec takes them. */
export const FLUSH = { NONE: 0, SYNC: 2 } as const;

/** What the codec's run() returns besides a byte count (ffi/zlib.ts ZRUN). */
const RUN = { BAD_DATA: -1, TOO_BIG: -2 } as const;

/** A raw DEFLATE stream (ffi/zlib.ts ZStream has this shape). */
export interface RawCodec {
  /**
   * @param out gets copies of the output appended, or each piece of output as a view valid
   *   only during the call
   * @returns output bytes, or -1 (bad data) / -2 (past maxOut)
   */
  run(
    input: Uint8Array,
    flush: number,
    out: Uint8Array[] | ((piece: Uint8Array) => void),
    maxOut?: number,
  ): number;
  /**
   * An inflater: whether a block with BFINAL=1 ended a stream since the last reset() (what follows
   * it was read as a new stream, RFC 7692 §7.2.3.4).
   */
  readonly sawFinalBlock?: boolean;
  reset(): void;
  end(): void;
}

/** Makes raw DEFLATE streams; the application layer owns the choice of level and memory. */
export interface CodecFactory {
  deflater(windowBits: number): RawCodec;
  inflater(windowBits: number): RawCodec;
}

/** The negotiated parameters (RFC 7692 §7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** The server's LZ77 window, 9-15 (15 when not negotiated). */
  serverMaxWindowBits: number;
  /** The client's LZ77 window, 8-15 (15 when not negotiated). */
  clientMaxWindowBits: number;
}

/** What the server allows: whether each side may keep its context between messages. */
export interface DeflatePolicy {
  serverContextTakeover: boolean;
  clientContextTakeover: boolean;
}

/** The extension's token (RFC 7692 §5). */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** One extension of a Sec-WebSocket-Extensions offer: its name and parameters (true: no value). */
export interface ExtensionOffer {
  name: string;
  params: [string, string | true][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses Sec-WebSocket-Extensions (RFC 6455 §9.1): `1#( token *( ";" token [ "=" ( token /
 * quoted-string ) ] ) )`. A quoted value must itself be a token once unquoted (§9.1).
 * @param value the field's lines joined with ", "
 * @returns the offers in the client's order of preference, or null when the field is malformed
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  // Split on "," and ";" outside quoted strings; quoted values never hold either once valid.
  for (const item of splitOutsideQuotes(value, ",")) {
    if (item.trim() === "") continue; // RFC 9110 §5.6.1: empty list elements are ignored
    const parts = splitOutsideQuotes(item, ";").map((p) => p.trim());
    const name = parts[0]!;
    if (!TOKEN.test(name)) return null;
    const params: [string, string | true][] = [];
    for (const part of parts.slice(1)) {
      const eq = part.indexOf("=");
      const key = (eq < 0 ? part : part.slice(0, eq)).trim();
      if (!TOKEN.test(key)) return null;
      if (eq < 0) {
        params.push([key.toLowerCase(), true]);
        continue;
      }
      let v = part.slice(eq + 1).trim();
      if (v.startsWith('"')) {
        if (v.length < 2 || !v.endsWith('"')) return null;
        v = v.slice(1, -1).replace(/\\(.)/g, "$1");
      }
      if (!TOKEN.test(v)) return null;
      params.push([key.toLowerCase(), v]);
    }
    offers.push({ name: name.toLowerCase(), params });
  }
  return offers;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** RFC 7692 §7.1.2: a window size is a decimal 8-15 without leading zeros. */
function windowBits(value: string | true): number | null {
  return typeof value === "string" && /^(8|9|1[0-5])$/.test(value) ? Number(value) : null;
}

/** The outcome of negotiating permessage-deflate. */
export interface Negotiated {
  params: DeflateParams;
  /** The Sec-WebSocket-Extensions value to answer with. */
  answer: string;
}

/**
 * Chooses the first permessage-deflate offer the server can accept (RFC 7692 §5.1, §7.1). An offer
 * with an unknown or repeated parameter, or an invalid value, is declined (§7.1); so is one that
 * limits the server's window to 8 bits (zlib's raw deflate cannot make an 8-bit window). The answer
 * is valid for the offer it accepts: server_max_window_bits echoes the offered value,
 * client_max_window_bits appears only when offered, and the no-context-takeover parameters are
 * sent when offered or when the policy asks for them (§7.1.1.1, §7.1.1.2 allow both).
 * @returns the parameters and the answer, or null when no offer can be accepted
 */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  policy: DeflatePolicy,
): Negotiated | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const params: DeflateParams = {
      serverNoContextTakeover: !policy.serverContextTakeover,
      clientNoContextTakeover: !policy.clientContextTakeover,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    };
    let serverBits: number | null = null;
    let clientBits: number | null = null;
    const seen = new Set<string>();
    let ok = true;
    for (const [key, value] of offer.params) {
      if (seen.has(key)) ok = false;
      seen.add(key);
      if (key === "server_no_context_takeover" && value === true) params.serverNoContextTakeover = true;
      else if (key === "client_no_context_takeover" && value === true) params.clientNoContextTakeover = true;
      else if (key === "server_max_window_bits") ok &&= (serverBits = windowBits(value)) !== null;
      else if (key === "client_max_window_bits") {
        if (value !== true) ok &&= (clientBits = windowBits(value)) !== null;
      } else ok = false;
    }
    if (!ok || serverBits === 8) continue;
    const answer = [PERMESSAGE_DEFLATE];
    if (params.serverNoContextTakeover) answer.push("server_no_context_takeover");
    if (params.clientNoContextTakeover) answer.push("client_no_context_takeover");
    if (serverBits !== null) {
      params.serverMaxWindowBits = serverBits;
      answer.push(`server_max_window_bits=${serverBits}`);
    }
    if (clientBits !== null) {
      params.clientMaxWindowBits = clientBits;
      answer.push(`client_max_window_bits=${clientBits}`);
    }
    return { params, answer: answer.join("; ") };
  }
  return null;
}

/** RFC 7692 §7.2.1: the 4 bytes a sync flush ends with, removed by the sender, restored by the receiver. */
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

const EMPTY = new Uint8Array(0);
/** First allocation for an inflated message: 64 KiB (one zlib call's output); it doubles from there. */
const FIRST_OUTPUT = 64 * 1024;
/**
 * Where every connection's inflated message starts, lent for one step() at a time: a message done
 * within it is copied out at its exact size, so a 4 KiB message no longer costs a zeroed 64 KiB
 * buffer and then a copy of its bytes (the web layer hands whole ArrayBuffers to the application).
 */
const SCRATCH = new Uint8Array(FIRST_OUTPUT);

/**
 * Compressed bytes fed to zlib per call while inflating: at DEFLATE's best ratio (~1032:1) a piece
 * makes at most ~1 MiB, so the step budget is checked often enough.
 */
const INFLATE_PIECE = 1024;

/** Idle streams a pool keeps per window size; more are freed (each deflater is ~256 KiB). */
const POOL_KEEP = 4;

/** Streams without context, shared by every connection of a server: taken for one message, then reset. */
export class CodecPool {
  readonly factory: CodecFactory;
  #deflaters: RawCodec[][] = [];
  #inflaters: RawCodec[] = [];
  /** Streams made so far (for tests and the status page). */
  made = 0;

  constructor(factory: CodecFactory) {
    this.factory = factory;
  }

  deflater(windowBits: number): RawCodec {
    const idle = this.#deflaters[windowBits]?.pop();
    if (idle) return idle;
    this.made++;
    return this.factory.deflater(windowBits);
  }

  inflater(): RawCodec {
    const idle = this.#inflaters.pop();
    if (idle) return idle;
    this.made++;
    return this.factory.inflater(15); // inflating with the widest window reads any narrower one
  }

  /** Takes back a stream after one message: reset, kept or freed. */
  giveDeflater(codec: RawCodec, windowBits: number): void {
    const list = this.#deflaters[windowBits] ??= [];
    if (list.length >= POOL_KEEP) return codec.end();
    codec.reset();
    list.push(codec);
  }

  giveInflater(codec: RawCodec): void {
    if (this.#inflaters.length >= POOL_KEEP) return codec.end();
    codec.reset();
    this.#inflaters.push(codec);
  }

  /** Frees every idle stream (the server stops). */
  close(): void {
    for (const list of this.#deflaters) for (const codec of list ?? []) codec.end();
    for (const codec of this.#inflaters) codec.end();
    this.#deflaters = [];
    this.#inflaters = [];
  }
}

function join(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One connection's permessage-deflate: compresses what it sends, inflates what it receives. */
export class PerMessageDeflate implements MessageInflater {
  readonly params: DeflateParams;
  #pool: CodecPool;
  /** The connection's own streams, under context takeover. */
  #deflater: RawCodec | null = null;
  #inflater: RawCodec | null = null;
  /** A pooled deflater held while a message is compressed slice by slice. */
  #borrowed: RawCodec | null = null;
  /** The message being inflated, step by step. */
  #inflating: RawCodec | null = null;
  #input: Uint8Array = EMPTY;
  #offset = 0;
  #maxBytes = 0;
  /** The inflated message so far, in a buffer that doubles: no pieces to join at the end. */
  #message: Uint8Array = EMPTY;
  #total = 0;
  /** Copies a piece of zlib's output into the message (bound once: no closure per call). */
  #take = (piece: Uint8Array): void => {
    const needed = this.#total + piece.length;
    if (needed > this.#message.length) {
      const size = Math.min(this.#maxBytes, Math.max(needed, FIRST_OUTPUT, this.#message.length * 2));
      const grown = new Uint8Array(size);
      grown.set(this.#message.subarray(0, this.#total));
      this.#message = grown;
    }
    this.#message.set(piece, this.#total);
    this.#total = needed;
  };
  #closed = false;

  constructor(params: DeflateParams, pool: CodecPool) {
    this.params = params;
    this.#pool = pool;
  }

  /** Whether zlib memory is held now (an idle connection without context takeover holds none). */
  get holdsMemory(): boolean {
    return this.#deflater !== null || this.#inflater !== null || this.#borrowed !== null ||
      this.#inflating !== null;
  }

  /** Bytes held for the message being inflated: its compressed payload and the output so far. */
  get held(): number {
    return this.#inflating === null ? 0 : this.#input.length + this.#message.length;
  }

  /**
   * Starts inflating a received message (the receiver calls step() until it is done).
   * @throws Error when zlib cannot make a stream (out of memory, no libz): the socket fails (1011)
   */
  begin(data: Uint8Array, maxBytes: number): void {
    this.#input = data;
    this.#offset = 0;
    this.#maxBytes = maxBytes;
    this.#message = EMPTY;
    this.#total = 0;
    this.#inflating = this.params.clientNoContextTakeover
      ? this.#pool.inflater()
      : (this.#inflater ??= this.#pool.factory.inflater(Math.max(9, this.params.clientMaxWindowBits)));
  }

  /**
   * Inflates compressed input a piece at a time until about `budget` bytes came out. A piece of
   * INFLATE_PIECE bytes inflates to at most ~1032 times its size (DEFLATE's best ratio), so a
   * step overshoots its budget by at most ~1 MiB. The tail (§7.2.2) is the last piece.
   * @returns the message when done, null when more steps are needed, or 1009 / 1007
   */
  step(budget: number): Uint8Array | null | number {
    const codec = this.#inflating!;
    const input = this.#input;
    let produced = 0;
    if (this.#total === 0) this.#message = SCRATCH; // lent until this step returns
    while (this.#offset <= input.length) {
      const piece = this.#offset === input.length
        ? TAIL
        : input.subarray(this.#offset, Math.min(input.length, this.#offset + INFLATE_PIECE));
      const n = codec.run(piece, FLUSH.SYNC, this.#take, this.#maxBytes - this.#total);
      if (n < 0) {
        return this.#endInflate(n === RUN.TOO_BIG ? CLOSE_CODE.MESSAGE_TOO_BIG : CLOSE_CODE.INVALID_PAYLOAD);
      }
      this.#offset += piece === TAIL ? 1 : piece.length;
      produced += n;
      if (produced >= budget && this.#offset <= input.length) {
        if (this.#message === SCRATCH) this.#message = SCRATCH.slice(0, this.#total); // more turns: its own
        return null;
      }
    }
    const total = this.#total;
    const message = this.#message;
    return this.#endInflate(
      message === SCRATCH
        ? SCRATCH.slice(0, total)
        : total === message.length
        ? message
        : message.subarray(0, total),
    );
  }

  #endInflate<T>(result: T): T {
    const codec = this.#inflating!;
    const failed = typeof result === "number";
    if (this.params.clientNoContextTakeover) this.#pool.giveInflater(codec);
    // RFC 7692 §7.2.3.4: a message may end its DEFLATE stream with a final block; the next one
    // then begins a new stream, without the previous context.
    else if (failed || codec.sawFinalBlock) codec.reset();
    this.#inflating = null;
    this.#input = EMPTY;
    this.#message = EMPTY;
    this.#total = 0;
    return result;
  }

  /**
   * Compresses one slice of an outgoing message (§7.2.1). Slices of one message are compressed in
   * order, each call bounded by its slice; the last flushes and drops the 00 00 FF FF tail.
   * @returns the compressed bytes of this slice (possibly none before the last)
   * @throws Error when zlib fails (out of memory): the connection closes with 1011
   */
  deflate(slice: Uint8Array, last: boolean): Uint8Array {
    if (this.#closed) throw new Error("Compression after close");
    const bits = this.params.serverMaxWindowBits;
    let codec: RawCodec;
    if (this.params.serverNoContextTakeover) codec = this.#borrowed ??= this.#pool.deflater(bits);
    else codec = this.#deflater ??= this.#pool.factory.deflater(bits);
    const out: Uint8Array[] = [];
    const n = codec.run(slice, last ? FLUSH.SYNC : FLUSH.NONE, out);
    if (n < 0) throw new Error("Compression failed");
    let bytes = join(out, n);
    if (last) {
      bytes = bytes.subarray(0, bytes.length - TAIL.length);
      if (this.#borrowed) {
        this.#pool.giveDeflater(this.#borrowed, bits);
        this.#borrowed = null;
      }
    }
    return bytes;
  }

  /** Frees the connection's streams and returns a borrowed one. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deflater?.end();
    this.#inflater?.end();
    if (this.#borrowed) this.#pool.giveDeflater(this.#borrowed, this.params.serverMaxWindowBits);
    if (this.#inflating && this.params.clientNoContextTakeover) this.#pool.giveInflater(this.#inflating);
    this.#deflater =
      this.#inflater =
      this.#borrowed =
      this.#inflating =
        null;
    this.#input = EMPTY;
    this.#message = EMPTY;
  }
}
