// The rotating session-ticket keys, with a clock the test moves: holders of the same state agree
// on every key at every moment however they advanced, a key decrypts one period after its own
// (asking for renewal), and never after that.

import assert from "node:assert/strict";
import { TICKET_STATE_LENGTH, TicketKeyRing } from "../../../app/transport/ticket_keys.ts";

const HOUR = 3_600_000;

/** A clock the test sets; starts mid-period so a step of one period crosses one boundary. */
function clock(start = 1_000 * 12 * HOUR + 5 * HOUR) {
  let now = start;
  return { now: () => now, set: (ms: number) => (now = ms), add: (ms: number) => (now += ms) };
}

Deno.test("TicketKeyRing: the key rotates at each period's end; the previous one still decrypts, with renewal", () => {
  const time = clock();
  const ring = TicketKeyRing.fresh({ intervalMs: 12 * HOUR, now: time.now });
  const first = ring.encryptionKey();
  assert.equal(first.name.length, 16);
  assert.equal(first.hmac.length, 32);
  assert.equal(first.aes.length, 32);
  time.add(6 * HOUR); // still the same period
  assert.deepEqual(ring.encryptionKey(), first);
  assert.deepEqual(ring.decryptionKey(first.name), { key: first, renew: false });
  time.add(1 * HOUR + 1); // past the boundary (the clock started 5 h in)
  const second = ring.encryptionKey();
  assert.notDeepEqual(second.name, first.name);
  assert.notDeepEqual(second.aes, first.aes);
  assert.deepEqual(ring.decryptionKey(first.name), { key: first, renew: true }, "previous: decrypt, renew");
  assert.deepEqual(ring.decryptionKey(second.name), { key: second, renew: false });
  time.add(12 * HOUR);
  assert.equal(ring.decryptionKey(first.name), null, "two periods old: refused (full handshake)");
  assert.deepEqual(ring.decryptionKey(second.name)?.renew, true);
  assert.equal(ring.decryptionKey(new Uint8Array(16)), null, "an unknown name");
});

Deno.test("TicketKeyRing: rings from the same state agree at every moment, whether they advanced step by step or at once", () => {
  const time = clock();
  const supervisor = TicketKeyRing.fresh({ intervalMs: 12 * HOUR, now: time.now });
  const state = supervisor.toBytes();
  assert.equal(state.length, TICKET_STATE_LENGTH);
  const steady = TicketKeyRing.fromBytes(state, { intervalMs: 12 * HOUR, now: time.now });
  const sleeper = TicketKeyRing.fromBytes(state, { intervalMs: 12 * HOUR, now: time.now });
  assert.deepEqual(steady.encryptionKey(), supervisor.encryptionKey());
  for (let i = 0; i < 5; i++) {
    time.add(12 * HOUR);
    steady.encryptionKey();
  }
  assert.deepEqual(sleeper.encryptionKey(), steady.encryptionKey(), "five steps at once = five steps");
  assert.deepEqual(supervisor.encryptionKey(), steady.encryptionKey());
  // A worker started now from the supervisor's state also decrypts the previous period's tickets.
  const previous = steady.decryptionKey(sleeper.encryptionKey().name);
  time.add(12 * HOUR);
  const late = TicketKeyRing.fromBytes(supervisor.toBytes(), { intervalMs: 12 * HOUR, now: time.now });
  assert.deepEqual(late.decryptionKey(previous!.key.name)?.renew, true);
  assert.deepEqual(late.encryptionKey(), steady.encryptionKey());
  // Another fresh ring shares nothing.
  const other = TicketKeyRing.fresh({ intervalMs: 12 * HOUR, now: time.now });
  assert.equal(other.decryptionKey(steady.encryptionKey().name), null);
});

Deno.test("TicketKeyRing.fromBytes() refuses a state of the wrong length", () => {
  assert.throws(() => TicketKeyRing.fromBytes(new Uint8Array(80)), RangeError);
  assert.throws(() => TicketKeyRing.fromBytes(new Uint8Array(TICKET_STATE_LENGTH + 1)), RangeError);
});
