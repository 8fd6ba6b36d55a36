// Content codings for the static handler (http/static's Compressor): brotli, zstd and gzip from
// node:zlib on one Worker, started when the first file is compressed, so the reactor never waits
// for a compression (app/site/compress_worker.ts says why it cannot be the reactor's thread).

import { ALL_CODINGS, type Coding } from "../../http/negotiation.ts";
import type { Compressor } from "../../http/static/types.ts";
import type { CompressReply, CompressRequest } from "./compress_worker.ts";

/**
 * The level of each coding. A file is compressed once per version (http/static/encodings.ts), so
 * the time counts once, but the first client to ask for that coding waits for it. Measured
 * 2026-11-25 with `scripts/compression_levels.ts` on a built mdBook site (the Rust book from
 * rustup's docs: 592 compressible files, 19.1 MB; % of the input, ms per MiB on one CPU):
 * - br 4 / 5 / 6 / 7 / 9 / 11: 22.5 / 21.1 / 20.8 / 20.5 / 20.2 / 17.9%, at 12 / 16 / 19 / 24 / 216 /
 *   975 ms per MiB. Past 5 each step saves 0.3 points for 20-30% more time, then 9 and 11 cost 14 and
 *   60 times as much: 5.
 * - zstd 3 / 6 / 9 / 12 / 19: 24.4 / 22.7 / 22.3 / 21.8 / 20.3%, at 3 / 9 / 11 / 594 / 1,384 ms per MiB
 *   (from 12 on, every file pays ~17 ms to set up): 9.
 * - gzip 1 / 6 / 9: 34.0 / 23.4 / 23.1%, at 2 / 8 / 15 ms per MiB: 6.
 */
export const LEVELS: Readonly<Record<Coding, number>> = { br: 5, zstd: 9, gzip: 6 };

/** Compresses on a worker thread; dispose of it to stop the worker. */
export class WorkerCompressor implements Compressor, Disposable {
  /**
   * Every coding: compress_worker.ts imports zstd from node:zlib with the others (Deno 2.9.6 has
   * it). node:zlib is never imported on this thread, where it would add ~18 ms to start-up.
   */
  readonly codings: number = ALL_CODINGS;
  #worker: Worker | null = null;
  #pending = new Map<number, { resolve: (data: Uint8Array) => void; reject: (error: Error) => void }>();
  #nextId = 1;

  /**
   * Compresses `data` (copied to the worker) at the coding's level.
   * @returns the copy; rejects when the worker fails or the compressor is disposed
   */
  compress(coding: Coding, data: Uint8Array, text: boolean): Promise<Uint8Array> {
    const worker = this.#worker ??= this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: CompressRequest = { id, coding, level: LEVELS[coding], data, text };
      worker.postMessage(request);
    });
  }

  /** Compressions waiting for the worker. */
  get pending(): number {
    return this.#pending.size;
  }

  #start(): Worker {
    const worker = new Worker(new URL("./compress_worker.ts", import.meta.url).href, { type: "module" });
    worker.onmessage = ({ data: reply }: MessageEvent<CompressReply>) => {
      const waiting = this.#pending.get(reply.id);
      if (!waiting) return;
      this.#pending.delete(reply.id);
      if ("error" in reply) waiting.reject(new Error(reply.error));
      else waiting.resolve(reply.data);
    };
    worker.onerror = (event) => {
      // A failure inside the worker would otherwise end this process; it ends the worker only,
      // and the next compression starts another.
      event.preventDefault();
      this.#stop(new Error(`Compression worker failed: ${event.message}`));
    };
    return worker;
  }

  #stop(reason: Error): void {
    this.#worker?.terminate();
    this.#worker = null;
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject } of waiting) reject(reason);
  }

  [Symbol.dispose](): void {
    this.#stop(new Error("The compressor was closed"));
  }
}
