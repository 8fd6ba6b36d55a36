// A transport in memory for the scripts that measure the connection without the kernel
// (path_bench.ts, conn_memory.ts): each read hands out the same request once `pending` is set,
// and every write is taken whole.

import type { Transport } from "../http/types.ts";

const EAGAIN = -11;

/** Reads return `request` once per `pending = true`; writes are counted and swallowed. */
export class MemoryTransport implements Transport {
  pending = false;
  written = 0;
  constructor(readonly request: Uint8Array) {}
  read(buf: Uint8Array): number {
    if (!this.pending) return EAGAIN;
    this.pending = false;
    buf.set(this.request);
    return this.request.length;
  }
  write(_buf: Uint8Array, length: number): number {
    this.written += length;
    return length;
  }
  sendfile(): number {
    return EAGAIN;
  }
  setInterest(): void {}
  shutdownWrite(): void {}
  remoteAddress(): string {
    return "127.0.0.1";
  }
  remotePort(): number {
    return 40000;
  }
  close(): void {}
}
