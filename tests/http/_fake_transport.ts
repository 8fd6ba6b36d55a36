// A socket in memory for the http/ unit tests: queued input, a write window, injected results,
// recorded interest and calls.

import type { Transport } from "../../http/types.ts";

export const EAGAIN = -11;

/** Hands out queued input chunks, one per read (EAGAIN when none, 0 after `eof`); takes writes up to `window`. */
export class FakeTransport implements Transport {
  input: Uint8Array[] = [];
  eof = false;
  output: number[] = [];
  /** Bytes the "kernel" takes before EAGAIN, until a test refills it. */
  window = Infinity;
  writes = 0;
  /** When set, write() returns it. */
  writeResult: number | null = null;
  /** When set, sendfile() returns it. */
  sendfileResult: number | null = null;
  interest = { readable: true, writable: false };
  closes = 0;
  shutdowns = 0;
  sendfiles: [number, number, number][] = [];
  /** Each write's bytes, one chunk per call that took any. */
  chunks: Uint8Array[] = [];
  /** Set: a transport whose sendfile copies (TLS); readFile gives byte `(offset + i) & 0xff`. */
  copiesFiles = false;
  /** Where readFile finds the file's end (a file that shrank). */
  fileEnd = Infinity;
  fileReads: [number, number, number][] = [];

  read(buf: Uint8Array, length: number): number {
    const chunk = this.input.shift();
    if (!chunk) return this.eof ? 0 : EAGAIN;
    const n = Math.min(length, chunk.length);
    buf.set(chunk.subarray(0, n));
    if (n < chunk.length) this.input.unshift(chunk.subarray(n));
    return n;
  }
  write(buf: Uint8Array, length: number): number {
    if (this.writeResult !== null) return this.writeResult;
    if (this.window <= 0) return EAGAIN;
    const n = Math.min(length, this.window);
    this.window -= n;
    this.writes++;
    for (let i = 0; i < n; i++) this.output.push(buf[i]!);
    this.chunks.push(buf.slice(0, n));
    return n;
  }
  readFile(fileFd: number, offset: number, buf: Uint8Array, length: number): number {
    const n = Math.max(0, Math.min(length, this.fileEnd - offset));
    this.fileReads.push([fileFd, offset, n]);
    for (let i = 0; i < n; i++) buf[i] = (offset + i) & 0xff;
    return n;
  }
  sendfile(fileFd: number, offset: number, count: number): number {
    if (this.sendfileResult !== null) return this.sendfileResult;
    if (this.window <= 0) return EAGAIN;
    const n = Math.min(count, this.window);
    this.window -= n;
    this.sendfiles.push([fileFd, offset, n]);
    for (let i = 0; i < n; i++) this.output.push(120); // "x"
    return n;
  }
  setInterest(readable: boolean, writable: boolean): void {
    this.interest = { readable, writable };
  }
  shutdownWrite(): void {
    this.shutdowns++;
  }
  remoteAddress(): string {
    return "127.0.0.1";
  }
  remotePort(): number {
    return 40000;
  }
  close(): void {
    this.closes++;
  }
  /** Everything written, as Latin-1 text. */
  text(): string {
    return String.fromCharCode(...this.output);
  }
  /** The status codes of the responses written, in order. */
  statuses(): number[] {
    return [...this.text().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  }
}
