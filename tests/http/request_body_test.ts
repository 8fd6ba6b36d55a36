// RequestBody with a recording owner: copies of pushed spans, the shared budget charged and given
// back, back-pressure (`full`), reads handed over directly, bytes(), and the ways a body ends.

import assert from "node:assert/strict";
import {
  BODY_QUEUE_BYTES,
  type BodyBudget,
  type BodyOwner,
  MAX_PIECE_ROOM_BYTES,
  PIECE_OVERHEAD_BYTES,
  RequestBody,
} from "../../http/request_body.ts";
import { HttpError } from "../../http/status.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array | null) => b === null ? null : String.fromCharCode(...b);
const tick = () => new Promise((r) => setTimeout(r, 0));
/** What one queued piece is charged beyond its bytes. */
const O = PIECE_OVERHEAD_BYTES;

/** The connection's side, as calls: "claimed", "drained", "cancelled", "refused 413". */
class FakeOwner implements BodyOwner {
  calls: string[] = [];
  bodyClaimed(): void {
    this.calls.push("claimed");
  }
  bodyDrained(): void {
    this.calls.push("drained");
  }
  bodyCancelled(): void {
    this.calls.push("cancelled");
  }
  bodyRefused(_body: RequestBody, error: HttpError): void {
    this.calls.push(`refused ${error.status}`);
  }
  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }
}

function setup(length = 100, limit = 1 << 20, budget: BodyBudget = { used: 0, limit: 1 << 20 }) {
  const owner = new FakeOwner();
  return { owner, budget, body: new RequestBody(length, limit, budget, owner) };
}

/** How a promise stands after the microtasks and one macrotask turn. */
async function state<T>(promise: Promise<T>): Promise<"pending" | "resolved" | "rejected"> {
  let result: "pending" | "resolved" | "rejected" = "pending";
  promise.then(() => result = "resolved", () => result = "rejected");
  await tick();
  return result;
}

async function rejectsWithStatus(promise: Promise<unknown>, status: number): Promise<void> {
  await assert.rejects(promise, (e) => e instanceof HttpError && e.status === status);
}

Deno.test("push() before any read queues a copy of the span and charges the budget for the piece", async () => {
  const { body, budget } = setup();
  const buf = bytes("..hello..");
  body.push(buf, 2, 7);
  buf.fill(0); // the connection's buffer is reused at once
  assert.equal(budget.used, 5 + O, "its bytes and what a piece costs beyond them");
  assert.equal(body.claimed, false, "pushing claims nothing");
  assert.equal(text(await body.read()), "hello");
  assert.equal(budget.used, 0);
});

Deno.test("read() returns queued pieces in order, releasing each one's budget and calling bodyDrained", async () => {
  const { body, budget, owner } = setup();
  body.push(bytes("ab"), 0, 2);
  body.push(bytes("cde"), 0, 3); // the first piece has no room left: a piece with room for 2 more
  assert.equal(budget.used, 2 + O + 3 + O);
  assert.equal(text(await body.read()), "ab");
  assert.equal(budget.used, 3 + O);
  assert.equal(owner.count("drained"), 1);
  assert.equal(text(await body.read()), "cde");
  assert.equal(budget.used, 0);
  assert.equal(owner.count("drained"), 2);
  body.end();
  assert.equal(await body.read(), null);
});

Deno.test("one-byte pushes fill a few growing pieces, so what is held stays near the body's size", async () => {
  const { body, budget } = setup(-1);
  const one = bytes("x");
  let pushed = 0;
  while (!body.full) {
    body.push(one, 0, 1);
    pushed++;
  }
  assert.ok(pushed > BODY_QUEUE_BYTES / 2, `${pushed} bytes queued before the queue is full`);
  assert.ok(budget.used < BODY_QUEUE_BYTES + MAX_PIECE_ROOM_BYTES + O, `charged ${budget.used}`);
  let pieces = 0, total = 0;
  while (total < pushed) {
    total += (await body.read())!.length;
    pieces++;
  }
  assert.equal(total, pushed, "every byte, in pieces");
  assert.ok(pieces < 32, `${pieces} pieces for ${pushed} one-byte pushes`);
  assert.equal(budget.used, 0);
});

Deno.test("a read() waiting when data arrives receives it directly, never charged", async () => {
  const { body, budget, owner } = setup();
  const pending = body.read();
  assert.deepEqual(owner.calls, ["claimed", "drained"], "nothing queued: the connection may read on");
  const buf = bytes("xyz-rest");
  body.push(buf, 0, 3);
  assert.equal(budget.used, 0);
  buf.fill(0);
  assert.equal(text(await pending), "xyz", "a copy");
  body.push(bytes("next"), 0, 4);
  assert.equal(budget.used, 4 + O, "with no reader waiting, the next push is queued and charged");
});

Deno.test("end() resolves a pending read with null", async () => {
  const { body } = setup();
  const pending = body.read();
  assert.equal(await state(pending), "pending");
  body.end();
  assert.equal(await pending, null);
  assert.equal(await body.read(), null);
});

Deno.test("full is true from BODY_QUEUE_BYTES held until a read takes some", async () => {
  const { body } = setup();
  body.push(new Uint8Array(BODY_QUEUE_BYTES - O - 1), 0, BODY_QUEUE_BYTES - O - 1);
  assert.equal(body.full, false);
  body.push(bytes("x"), 0, 1);
  assert.equal(body.full, true);
  await body.read();
  assert.equal(body.full, false);
});

Deno.test("bytes() gathers the whole body into one Uint8Array, never full while gathering, then gives the budget back", async () => {
  const { body, budget, owner } = setup(3 * BODY_QUEUE_BYTES);
  const half = (fill: number) => new Uint8Array(BODY_QUEUE_BYTES).fill(fill);
  body.push(half(1), 0, BODY_QUEUE_BYTES);
  const whole = body.bytes();
  assert.equal(owner.count("claimed"), 1);
  body.push(half(2), 0, BODY_QUEUE_BYTES);
  body.push(bytes("\x03"), 0, 1);
  assert.equal(body.full, false, "the connection must read on, or the body never completes");
  assert.equal(budget.used, 2 * BODY_QUEUE_BYTES + MAX_PIECE_ROOM_BYTES + 3 * O, "the last piece has room");
  assert.equal(await state(whole), "pending", "not before the end");
  body.end();
  const all = await whole;
  assert.ok(all instanceof Uint8Array);
  assert.equal(all.length, 2 * BODY_QUEUE_BYTES + 1);
  assert.deepEqual(
    [all[0], all[BODY_QUEUE_BYTES - 1], all[BODY_QUEUE_BYTES], all[2 * BODY_QUEUE_BYTES]],
    [1, 1, 2, 3],
    "in order",
  );
  assert.equal(budget.used, 0);
});

Deno.test({
  name: "bytes() of a body that has already ended resolves with it",
  async fn() {
    const { body, budget } = setup(5);
    body.push(bytes("hel"), 0, 3);
    body.push(bytes("lo"), 0, 2);
    body.end();
    assert.equal(text(await body.bytes()), "hello");
    assert.equal(budget.used, 0);
  },
});

Deno.test("claim() calls bodyClaimed once, however the body is read", async () => {
  const { body, owner } = setup();
  assert.equal(body.claimed, false);
  body.claim();
  body.claim();
  assert.equal(body.claimed, true);
  body.push(bytes("a"), 0, 1);
  await body.read();
  const whole = body.bytes();
  body.end();
  await whole;
  assert.equal(owner.count("claimed"), 1);
});

Deno.test("claiming a body whose declared length passes the limit refuses it with 413", async () => {
  const { body, budget, owner } = setup(2000, 1000);
  body.push(bytes("early"), 0, 5);
  assert.equal(budget.used, 5 + O);
  await rejectsWithStatus(body.read(), 413);
  assert.deepEqual(owner.calls, ["refused 413"], "refused, not claimed");
  assert.equal(budget.used, 0, "what was queued is given back");
  await rejectsWithStatus(body.read(), 413);
  body.push(bytes("late"), 0, 4);
  assert.equal(budget.used, 0, "nothing kept after the refusal");

  const atLimit = setup(1000, 1000);
  atLimit.body.claim();
  assert.deepEqual(atLimit.owner.calls, ["claimed"], "a length equal to the limit is fine");
});

Deno.test({
  name: "bytes() of a body refused, failed or dropped before the call rejects",
  async fn() {
    const refused = setup(2000, 1000);
    const tooLarge = refused.body.bytes();
    assert.deepEqual(refused.owner.calls, ["refused 413"]);
    assert.equal(await state(tooLarge), "rejected", "bytes() on a declared length over the limit");

    const failed = setup();
    failed.body.fail(new HttpError(408, "Request body timed out"));
    assert.equal(await state(failed.body.bytes()), "rejected", "bytes() after fail()");

    const dropped = setup(); // drop() rejects a bytes() already waiting (400); a later one hangs
    dropped.body.drop();
    assert.equal(await state(dropped.body.bytes()), "rejected", "bytes() after drop()");
  },
});

Deno.test("push() beyond budget.limit throws 503 and charges nothing", async () => {
  const budget = { used: 900, limit: 1000 + O }; // 900 held by other connections' bodies
  const { body } = setup(1000, 1 << 20, budget);
  assert.throws(
    () => body.push(new Uint8Array(101), 0, 101),
    (e) => e instanceof HttpError && e.status === 503,
  );
  assert.equal(budget.used, 900);
  body.push(bytes("a".repeat(100)), 0, 100);
  assert.equal(budget.used, 1000 + O, "up to the limit is fine");
  body.end();
  assert.equal((await body.read())!.length, 100, "the refused push queued nothing");
  assert.equal(await body.read(), null);
});

Deno.test("fail() rejects a pending read and bytes() with its error and gives the budget back", async () => {
  const error = new HttpError(400, "Malformed chunk (expected by this test)");
  const reading = setup();
  const read = reading.body.read();
  reading.body.fail(error);
  await assert.rejects(read, (e) => e === error);
  await assert.rejects(reading.body.read(), (e) => e === error, "later reads too");

  const gathering = setup();
  gathering.body.push(bytes("0123456789"), 0, 10);
  const whole = gathering.body.bytes();
  assert.equal(gathering.budget.used, 10 + O);
  gathering.body.fail(error);
  await assert.rejects(whole, (e) => e === error);
  assert.equal(gathering.budget.used, 0);
  gathering.body.push(bytes("more"), 0, 4);
  assert.equal(gathering.budget.used, 0, "nothing kept after failing");
});

Deno.test("drop() frees the queue, keeps nothing later, and ends a pending read with null", async () => {
  const queued = setup();
  queued.body.push(bytes("0123456789"), 0, 10);
  queued.body.drop();
  assert.equal(queued.body.dropped, true);
  assert.equal(queued.budget.used, 0);
  queued.body.push(bytes("more"), 0, 4);
  assert.equal(queued.budget.used, 0);
  assert.equal(queued.body.full, false);
  assert.equal(await queued.body.read(), null, "nothing queued survives");

  const waiting = setup();
  const read = waiting.body.read();
  waiting.body.drop();
  assert.equal(await read, null);
  waiting.body.push(bytes("late"), 0, 4);
  assert.equal(waiting.budget.used, 0);
});

Deno.test("cancel() drops the body and calls bodyCancelled once", async () => {
  const { body, budget, owner } = setup();
  body.push(bytes("abc"), 0, 3);
  const pending = body.bytes();
  body.cancel();
  assert.equal(body.dropped, true);
  assert.equal(budget.used, 0);
  assert.equal(owner.count("cancelled"), 1);
  await assert.rejects(pending, HttpError, "a gathering bytes() learns the body is gone");
  body.cancel();
  assert.equal(owner.count("cancelled"), 1, "a dropped body is not cancelled twice");

  const failed = setup();
  failed.body.fail(new HttpError(408, "Request body timed out"));
  failed.body.cancel();
  assert.deepEqual(failed.owner.calls, [], "a failed body has nothing to cancel");
});
