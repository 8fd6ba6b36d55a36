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

/** A compression waiting for the worker, or on it. */
interface Job {
  request: CompressRequest;
  wanted: (() => boolean) | undefined;
  resolve: (data: Uint8Array | null) => void;
  reject: (error: Error) => void;
}

/**
 * Compresses on a worker thread, one file at a time; dispose of it to stop the worker. The worker
 * is handed the next file only when it is done with the last, so a file nobody waits for any more
 * is skipped before its work starts: a message posted to the worker could not be taken back.
 */
export class WorkerCompressor implements Compressor, Disposable {
  /**
   * Every coding: compress_worker.ts imports zstd from node:zlib with the others (Deno 2.9.6 has
   * it). node:zlib is never imported on this thread, where it would add ~18 ms to start-up.
   */
  readonly codings: number = ALL_CODINGS;
  #worker: Worker | null = null;
  /** Waiting for the worker, oldest first (bounded by the static handler's COMPRESS_QUEUE_MAX_BYTES). */
  #queue: Job[] = [];
  /** On the worker now. */
  #running: Job | null = null;
  #nextId = 1;
  /** Compressions handed to the worker, and those skipped because nobody wanted them any more. */
  readonly counts = { started: 0, skipped: 0 };

  /**
   * Compresses `data` (copied to the worker) at the coding's level.
   * @param wanted asked when the worker is free for this file: false skips it
   * @returns the copy, or null when skipped; rejects when the worker fails or the compressor is
   *   disposed
   */
  compress(
    coding: Coding,
    data: Uint8Array,
    text: boolean,
    wanted?: () => boolean,
  ): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      const request: CompressRequest = { id: this.#nextId++, coding, level: LEVELS[coding], data, text };
      this.#queue.push({ request, wanted, resolve, reject });
      this.#next();
    });
  }

  /** Compressions waiting for the worker or on it. */
  get pending(): number {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  /** Hands the worker the oldest file still wanted, when it is free. */
  #next(): void {
    while (this.#running === null && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      if (job.wanted && !job.wanted()) {
        this.counts.skipped++;
        job.resolve(null);
        continue;
      }
      this.#running = job;
      this.counts.started++;
      (this.#worker ??= this.#start()).postMessage(job.request);
    }
  }

  #start(): Worker {
    const worker = new Worker(new URL("./compress_worker.ts", import.meta.url).href, { type: "module" });
    worker.onmessage = ({ data: reply }: MessageEvent<CompressReply>) => {
      const job = this.#running;
      if (!job || job.request.id !== reply.id) return;
      this.#running = null;
      if ("error" in reply) job.reject(new Error(reply.error));
      else job.resolve(reply.data);
      this.#next();
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
    const waiting = this.#running ? [this.#running, ...this.#queue] : this.#queue;
    this.#running = null;
    this.#queue = [];
    for (const { reject } of waiting) reject(reason);
  }

  [Symbol.dispose](): void {
    this.#stop(new Error("The compressor was closed"));
  }
}
