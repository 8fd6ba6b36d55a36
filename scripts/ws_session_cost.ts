// The user-space cost of a WebSocket echo inside the session, without sockets or the web layer:
// WebSocketSession reads 10 masked binary frames per read from an in-memory transport, the
// application sends each message back, and the read's flush writes the replies. µs per message
// echoed, for 64-byte and 4 KiB messages.
// Run: deno run scripts/ws_session_cost.ts [BYTES...]   (pin it with taskset -c 0 for steadier figures)

import { WebSocketSession } from "../http/ws/session.ts";
import type { Deadline, Transport } from "../http/types.ts";

const MASK = [0x37, 0xfa, 0x21, 0x3d];
const PER_READ = 10; // messages in flight per connection in the bench's ws-* rows
const ROUNDS = 100_000;

/** A masked binary frame of `length` bytes. */
function clientFrame(length: number): Uint8Array {
  const head = length < 126 ? [0x82, 0x80 | length] : [0x82, 0x80 | 126, length >>> 8, length & 0xff];
  const frame = new Uint8Array(head.length + 4 + length);
  frame.set([...head, ...MASK]);
  for (let i = 0; i < length; i++) frame[head.length + 4 + i] = (i & 0xff) ^ MASK[i & 3]!;
  return frame;
}

/** Each read returns `input` whole; writes are taken whole and counted. */
class LoopTransport implements Transport {
  written = 0;
  constructor(readonly input: Uint8Array) {}
  read(buf: Uint8Array): number {
    buf.set(this.input);
    return this.input.length;
  }
  write(_buf: Uint8Array, length: number): number {
    this.written += length;
    return length;
  }
  sendfile(): number {
    return -1;
  }
  setInterest(): void {}
  shutdownWrite(): void {}
  remoteAddress(): string {
    return "127.0.0.1";
  }
  remotePort(): number {
    return 0;
  }
  close(): void {}
}

const deadline = (): Deadline => ({ arm() {}, disarm() {}, dispose() {} });

for (const length of Deno.args.length ? Deno.args.map(Number) : [64, 4096]) {
  const frame = clientFrame(length);
  const input = new Uint8Array(frame.length * PER_READ);
  for (let i = 0; i < PER_READ; i++) input.set(frame, i * frame.length);
  const transport = new LoopTransport(input);
  const session: WebSocketSession = new WebSocketSession(transport, new Uint8Array(0), {
    message: (text, data) => session.send(text, data, false), // the web layer's send() of event.data
    closed: () => {},
  }, { deadline });
  session.start();
  for (let i = 0; i < ROUNDS / 10; i++) session.onReadable(); // warm up: optimized code
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) session.onReadable();
  const us = (performance.now() - t0) * 1000 / (ROUNDS * PER_READ);
  console.log(`${length} bytes: ${us.toFixed(2)} µs per message echoed (${transport.written} bytes written)`);
}
