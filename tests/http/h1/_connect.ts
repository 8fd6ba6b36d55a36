// An HTTP/1.1 Connection over the in-memory transport, with test limits and a timer heap the
// test drives: the common set-up of the connection tests.

import { Connection, type ConnectionOptions } from "../../../http/h1/connection.ts";
import type { Handler } from "../../../http/types.ts";
import { Timer, TimerHeap } from "../../../loop/timers.ts";
import { FakeTransport } from "../_fake_transport.ts";

/**
 * A connection and what drives it.
 * @returns the transport, the connection, its timer heap and counters, and send() (input, then a read)
 */
export function connect(handler: Handler, overrides: Partial<ConnectionOptions> = {}) {
  const t = new FakeTransport();
  const heap = new TimerHeap();
  const scheduler = {
    timers: heap,
    arm: (timer: Timer, ms: number) => heap.arm(timer, performance.now() + ms),
  };
  const stats = {
    requests: 0,
    bytesIn: 0,
    bytesOut: 0,
    filesOpen: 0,
    answersAwaited: 0,
    errors: {} as Record<string, number>,
    clientsLeft: {} as Record<string, number>,
  };
  const conn = new Connection(t, {
    handler,
    bodyBudget: { used: 0, limit: 1 << 20 },
    deadline: (callback) => new Timer(callback, scheduler),
    maxBodyBytes: 1024,
    headerTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    bodyTimeoutMs: 1000,
    writeTimeoutMs: 1000,
    maxPipelined: 64,
    stats,
    draining: () => false,
    ...overrides,
  });
  const send = (text: string) => {
    t.input.push(Uint8Array.from(text, (c) => c.charCodeAt(0)));
    conn.onReadable();
  };
  return { t, conn, heap, stats, send };
}
