// Hand-built client frames for the WebSocket tests, and a sink that records what a Receiver reports.

import type { ReceiverSink } from "../../../http/ws/receiver.ts";

export const ENC = new TextEncoder();
export const DEC = new TextDecoder();

/** Options of a hand-built frame. */
export interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  /** The 4-byte masking key, or null for an unmasked frame. */
  mask?: readonly number[] | null;
  /** Force the 16- or 64-bit length form (non-minimal encodings). */
  lengthForm?: 7 | 16 | 64;
  /** Claim this length in the head instead of the payload's. */
  claimedLength?: number;
}

/** A client frame: FIN, RSV bits, opcode, mask bit, length, masking key, masked payload. */
export function clientFrame(
  opcode: number,
  payload: Uint8Array | string = "",
  options: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? ENC.encode(payload) : payload;
  const mask = options.mask === undefined ? [0x37, 0xfa, 0x21, 0x3d] : options.mask;
  const length = options.claimedLength ?? data.length;
  const form = options.lengthForm ?? (length < 126 ? 7 : length < 0x10000 ? 16 : 64);
  const head: number[] = [((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) head.push(maskBit | length);
  else if (form === 16) head.push(maskBit | 126, length >>> 8, length & 0xff);
  else {
    head.push(maskBit | 127);
    const high = Math.floor(length / 2 ** 32);
    head.push(high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff);
    head.push(length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  if (mask) head.push(...mask);
  const frame = new Uint8Array(head.length + data.length);
  frame.set(head);
  for (let i = 0; i < data.length; i++) frame[head.length + i] = data[i]! ^ (mask ? mask[i & 3]! : 0);
  return frame;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One event a receiver reported, as plain data. */
export type Event =
  | { message: "text"; data: string }
  | { message: "binary"; data: number[] }
  | { ping: number[] }
  | { pong: number[] }
  | { close: number; reason: string }
  | { fail: number };

/** A sink that records events. */
export class RecordingSink implements ReceiverSink {
  events: Event[] = [];
  message(text: boolean, data: Uint8Array): void {
    this.events.push(
      text ? { message: "text", data: DEC.decode(data) } : { message: "binary", data: [...data] },
    );
  }
  ping(payload: Uint8Array): void {
    this.events.push({ ping: [...payload] });
  }
  pong(payload: Uint8Array): void {
    this.events.push({ pong: [...payload] });
  }
  close(code: number, reason: string): void {
    this.events.push({ close: code, reason });
  }
  fail(code: number): void {
    this.events.push({ fail: code });
  }
}

/** A frame the server sent, decoded. */
export interface ServerFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Decodes the server's frames from its output; throws on a masked or truncated one. */
export function serverFrames(bytes: Uint8Array | number[]): ServerFrame[] {
  const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  const frames: ServerFrame[] = [];
  let i = 0;
  while (i < b.length) {
    const first = b[i]!, second = b[i + 1]!;
    if (second & 0x80) throw new Error("server frame masked");
    let length = second & 0x7f;
    i += 2;
    if (length === 126) {
      length = (b[i]! << 8) | b[i + 1]!;
      i += 2;
    } else if (length === 127) {
      length = 0;
      for (let k = 0; k < 8; k++) length = length * 256 + b[i + k]!;
      i += 8;
    }
    if (i + length > b.length) throw new Error("truncated frame");
    frames.push({
      fin: (first & 0x80) !== 0,
      rsv1: (first & 0x40) !== 0,
      opcode: first & 0x0f,
      payload: b.slice(i, i + length),
    });
    i += length;
  }
  return frames;
}
