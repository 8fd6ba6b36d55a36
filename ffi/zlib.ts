// The one Deno.dlopen of zlib (libz.so.1), for WebSocket permessage-deflate (RFC 7692): raw
// DEFLATE streams that keep their context between messages and flush with Z_SYNC_FLUSH, called
// synchronously (node:zlib has no synchronous stream that keeps its context across calls).
// Opened at the first stream, i.e. when a WebSocket first negotiates compression. Each stream has one owner, who calls
// end() exactly once; the z_stream it wraps lives in an off-heap buffer that never moves.

import { StartupError } from "./errno.ts";

/**
 * zlib's functions. The z_stream is passed as a `buffer` (its backing store, which stays put);
 * the version string goes back to zlib as the pointer zlibVersion() returned. Lengths are `int`.
 */
export const LIBZ = {
  zlibVersion: { parameters: [], result: "pointer" }, // const char *(void)
  // int (z_streamp, int level, int method, int windowBits, int memLevel, int strategy,
  //      const char *version, int stream_size): the deflateInit2() macro
  deflateInit2_: {
    parameters: ["buffer", "i32", "i32", "i32", "i32", "i32", "pointer", "i32"],
    result: "i32",
  },
  deflate: { parameters: ["buffer", "i32"], result: "i32" }, // int (z_streamp, int flush)
  deflateReset: { parameters: ["buffer"], result: "i32" }, // int (z_streamp)
  deflateEnd: { parameters: ["buffer"], result: "i32" }, // int (z_streamp)
  // int (z_streamp, int windowBits, const char *version, int stream_size): inflateInit2()
  inflateInit2_: { parameters: ["buffer", "i32", "pointer", "i32"], result: "i32" },
  inflate: { parameters: ["buffer", "i32"], result: "i32" }, // int (z_streamp, int flush)
  inflateReset: { parameters: ["buffer"], result: "i32" }, // int (z_streamp)
  inflateEnd: { parameters: ["buffer"], result: "i32" }, // int (z_streamp)
} as const satisfies Deno.ForeignLibraryInterface;

function open(): Deno.DynamicLibrary<typeof LIBZ> {
  try {
    return Deno.dlopen("libz.so.1", LIBZ);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new StartupError(
      `Cannot load libz.so.1 for WebSocket compression: ${why}; install the zlib1g package (apt-get install zlib1g)`,
    );
  }
}

/** zlib, opened at the first stream (importing this module loads nothing). */
let libz: Deno.DynamicLibrary<typeof LIBZ>["symbols"] | null = null;
let VERSION: Deno.PointerValue = null;

function zlib(): Deno.DynamicLibrary<typeof LIBZ>["symbols"] {
  if (libz === null) {
    libz = open().symbols;
    VERSION = libz.zlibVersion();
  }
  return libz;
}

/**
 * struct z_stream_s on x86-64 (zlib.h, LP64): next_in 0, avail_in 8 (uInt), total_in 16,
 * next_out 24, avail_out 32 (uInt), total_out 40, msg 48, state 56, zalloc 64, zfree 72,
 * opaque 80, data_type 88, adler 96, reserved 104; 112 bytes. zalloc/zfree/opaque left 0 select
 * zlib's malloc and free.
 */
const Z_STREAM = { SIZE: 112, NEXT_IN: 0, AVAIL_IN: 8, NEXT_OUT: 24, AVAIL_OUT: 32 } as const;

/** Flush modes and results (zlib.h). */
export const Z = {
  NO_FLUSH: 0,
  SYNC_FLUSH: 2,
  OK: 0,
  STREAM_END: 1,
  BUF_ERROR: -5,
  DATA_ERROR: -3,
  DEFLATED: 8,
  DEFAULT_STRATEGY: 0,
} as const;

/** What run() reports besides a byte count. */
export const ZRUN = {
  /** The input is not valid DEFLATE data. */
  BAD_DATA: -1,
  /** The output passed the caller's limit; the stream stopped early and must be reset. */
  TOO_BIG: -2,
} as const;

/**
 * Bytes moved per zlib call: input is copied into, and output out of, two buffers every stream
 * shares (the process runs one call at a time), so no pointer to a movable JS buffer reaches
 * zlib. 64 KiB keeps a call short (a deflate at level 1 of 64 KiB of text: ~0.3 ms).
 */
const SLICE = 64 * 1024;
const IN = new Uint8Array(new ArrayBuffer(SLICE));
const OUT = new Uint8Array(new ArrayBuffer(SLICE));
const IN_ADDRESS = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(IN)));
const OUT_ADDRESS = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(OUT)));

/** A raw DEFLATE stream (RFC 1951, no zlib header), compressing or decompressing. */
export class ZStream {
  readonly kind: "deflate" | "inflate";
  #strm = new Uint8Array(new ArrayBuffer(Z_STREAM.SIZE));
  #view = new DataView(this.#strm.buffer);
  #ended = false;
  /** An inflate stream read a block with BFINAL=1 since the last reset(). */
  #sawFinal = false;

  private constructor(kind: "deflate" | "inflate") {
    this.kind = kind;
  }

  /**
   * A compressor. Memory (zlib's formula): (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes,
   * 256 KiB at 15 and 8.
   * @param windowBits 9-15 (zlib turns a raw 8 into 9, so 8 is refused here)
   * @param level 0-9
   * @param memLevel 1-9
   * @throws Error when zlib refuses the parameters or memory
   */
  static deflater(windowBits: number, level: number, memLevel: number): ZStream {
    const z = zlib();
    const stream = new ZStream("deflate");
    const rc = z.deflateInit2_(
      stream.#strm,
      level,
      Z.DEFLATED,
      -windowBits,
      memLevel,
      Z.DEFAULT_STRATEGY,
      VERSION,
      Z_STREAM.SIZE,
    );
    if (rc !== Z.OK) throw new Error(`deflateInit2 failed (${rc})`);
    return stream;
  }

  /**
   * A decompressor; its window (1 << windowBits bytes) is allocated at first use.
   * @param windowBits 8-15: at least the window the peer compresses with
   * @throws Error when zlib refuses the parameters or memory
   */
  static inflater(windowBits: number): ZStream {
    const z = zlib();
    const stream = new ZStream("inflate");
    const rc = z.inflateInit2_(stream.#strm, -windowBits, VERSION, Z_STREAM.SIZE);
    if (rc !== Z.OK) throw new Error(`inflateInit2 failed (${rc})`);
    return stream;
  }

  /**
   * Feeds `input` through the stream and appends copies of the output to `out`, or hands each
   * piece of output to `out` as a view of a shared buffer, valid only during the call (the
   * caller copies it where it belongs: no copy per piece).
   * @param flush Z.NO_FLUSH, or Z.SYNC_FLUSH to end on a byte boundary with 00 00 FF FF
   * @param maxOut the most output to produce before giving up (TOO_BIG)
   * @returns the bytes of output, or ZRUN.BAD_DATA / ZRUN.TOO_BIG
   */
  run(
    input: Uint8Array,
    flush: number,
    out: Uint8Array[] | ((piece: Uint8Array) => void),
    maxOut = Infinity,
  ): number {
    if (this.#ended) throw new Error("ZStream used after end()");
    const z = libz!; // a stream exists, so zlib is open
    const call = this.kind === "deflate" ? z.deflate : z.inflate;
    const view = this.#view;
    let total = 0;
    let offset = 0;
    do {
      const n = Math.min(SLICE, input.length - offset);
      IN.set(input.subarray(offset, offset + n));
      offset += n;
      const last = offset === input.length;
      view.setBigUint64(Z_STREAM.NEXT_IN, IN_ADDRESS, true);
      view.setUint32(Z_STREAM.AVAIL_IN, n, true);
      for (;;) {
        view.setBigUint64(Z_STREAM.NEXT_OUT, OUT_ADDRESS, true);
        view.setUint32(Z_STREAM.AVAIL_OUT, SLICE, true);
        const rc = call(this.#strm, last ? flush : Z.NO_FLUSH);
        // RFC 7692 §7.2.3.4: a block with BFINAL=1 ends the stream; what follows (the 0x00 the RFC
        // appends and the 00 00 FF FF tail) is read by the same stream reset, keeping next_in.
        const ended = rc === Z.STREAM_END;
        if (ended) {
          this.#sawFinal = true;
          z.inflateReset(this.#strm);
        } else if (rc !== Z.OK && rc !== Z.BUF_ERROR) return ZRUN.BAD_DATA;
        const produced = SLICE - view.getUint32(Z_STREAM.AVAIL_OUT, true);
        if (produced > 0) {
          total += produced;
          if (total > maxOut) return ZRUN.TOO_BIG;
          if (typeof out === "function") out(OUT.subarray(0, produced));
          else out.push(OUT.slice(0, produced));
        }
        // More output is pending while zlib filled the whole output buffer, or input follows the end.
        if (produced < SLICE && !(ended && view.getUint32(Z_STREAM.AVAIL_IN, true) > 0)) break;
      }
    } while (offset < input.length);
    return total;
  }

  /** Whether a block with BFINAL=1 ended a stream since the last reset() (inflaters). */
  get sawFinalBlock(): boolean {
    return this.#sawFinal;
  }

  /** Forgets the context (the next message starts a fresh stream), keeping the memory. */
  reset(): void {
    this.#sawFinal = false;
    if (this.kind === "deflate") libz!.deflateReset(this.#strm);
    else libz!.inflateReset(this.#strm);
  }

  /** Frees zlib's memory. Safe to call twice. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.kind === "deflate") libz!.deflateEnd(this.#strm);
    else libz!.inflateEnd(this.#strm);
  }
}
