// The bcrypt check's bounds, with a stand-in hasher whose hashes finish when the test says: at
// most `verifying` hashes at once, `queued` waiting, BUSY beyond; identical credentials share a
// hash; successes are remembered for ttlMs and at most `cached` of them; unknown users cost a hash.
// One test runs the real libcrypt.

import assert from "node:assert/strict";
import { BcryptCheck, type Hasher } from "../../../app/site/password_check.ts";
import { VERDICT, type Verdict } from "../../../http/basic_auth.ts";

const ALICE = "$2y$04$Nm8uXuu3eR4Z4o32tjgD/u/2SD47DIHFOrAHabce4Q5C2kQge3f9K"; // "pa:ss"
const USERS = new Map([["alice", ALICE], ["bob", "$2b$04$bob"]]);
const pw = (text: string) => new TextEncoder().encode(text);

/** Hashers whose hashes wait for finish(): "pa:ss" for alice's setting hashes to ALICE. */
function manualHashers() {
  const pending: (() => void)[] = [];
  const settings: string[] = [];
  const newHasher = (): Hasher => ({
    hash(phrase, setting) {
      settings.push(setting);
      const right = new TextDecoder().decode(phrase) === "pa:ss" && setting === ALICE;
      return new Promise((resolve) => pending.push(() => resolve(right ? ALICE : "$2y$04$wrong")));
    },
  });
  /** Finishes the hashes in flight; resolves once their verdicts have been handed out. */
  const finish = async () => {
    for (let i = 0; i < 5; i++) await null; // hashes start a microtask after check()
    for (const done of pending.splice(0)) done();
    for (let i = 0; i < 5; i++) await null;
  };
  return { newHasher, finish, settings, inFlight: () => pending.length };
}

Deno.test("BcryptCheck hashes at most `verifying` at once, queues `queued`, and answers BUSY at once beyond", async () => {
  const h = manualHashers();
  const check = new BcryptCheck(USERS, { verifying: 2, queued: 3, newHasher: h.newHasher });
  const verdicts: (Verdict | Promise<Verdict>)[] = [];
  for (let i = 0; i < 8; i++) verdicts.push(check.check("alice", pw(`wrong${i}`)));
  await null;
  assert.equal(h.inFlight(), 2);
  assert.deepEqual(verdicts.slice(5), [VERDICT.BUSY, VERDICT.BUSY, VERDICT.BUSY]);
  assert.equal(check.counters.busy, 3);
  await h.finish(); // the first two end; two of the queued start
  assert.equal(h.inFlight(), 2);
  await h.finish();
  assert.equal(h.inFlight(), 1);
  await h.finish();
  assert.deepEqual(await Promise.all(verdicts.slice(0, 5)), Array(5).fill(VERDICT.DENIED));
  assert.equal(check.counters.hashed, 5);
});

Deno.test("BcryptCheck remembers a success for ttlMs under no more than `cached` entries, and never a failure", async () => {
  const h = manualHashers();
  let now = 0;
  const check = new BcryptCheck(USERS, {
    verifying: 1,
    cached: 1,
    ttlMs: 1000,
    now: () => now,
    newHasher: h.newHasher,
  });
  const first = check.check("alice", pw("pa:ss"));
  await h.finish();
  assert.equal(await first, VERDICT.ALLOWED);
  assert.equal(check.check("alice", pw("pa:ss")), VERDICT.ALLOWED); // at once, without a hash
  assert.equal(check.counters.hashed, 1);
  const wrong = check.check("alice", pw("nope"));
  await h.finish();
  assert.equal(await wrong, VERDICT.DENIED);
  const again = check.check("alice", pw("nope"));
  assert.ok(again instanceof Promise, "a failure is hashed again");
  await h.finish();
  now = 1001;
  const expired = check.check("alice", pw("pa:ss"));
  assert.ok(expired instanceof Promise, "an expired success is hashed again");
  await h.finish();
  assert.equal(await expired, VERDICT.ALLOWED);
  assert.equal(check.counters.hashed, 4);
});

Deno.test("BcryptCheck evicts the oldest success beyond `cached`", async () => {
  const h = manualHashers();
  const users = new Map([["alice", ALICE], ["alice2", ALICE]]);
  const check = new BcryptCheck(users, { verifying: 1, cached: 1, newHasher: h.newHasher });
  for (const user of ["alice", "alice2"]) {
    const v = check.check(user, pw("pa:ss"));
    await h.finish();
    assert.equal(await v, VERDICT.ALLOWED);
  }
  assert.equal(check.check("alice2", pw("pa:ss")), VERDICT.ALLOWED);
  assert.ok(check.check("alice", pw("pa:ss")) instanceof Promise, "alice's entry made room for alice2's");
  await h.finish();
});

Deno.test("BcryptCheck shares one hash among identical credentials in flight", async () => {
  const h = manualHashers();
  const check = new BcryptCheck(USERS, { verifying: 1, queued: 0, newHasher: h.newHasher });
  const verdicts = [0, 1, 2, 3].map(() => check.check("alice", pw("pa:ss")));
  assert.equal(check.counters.shared, 3);
  assert.equal(check.counters.busy, 0, "sharing takes no place in the queue");
  await h.finish();
  assert.deepEqual(await Promise.all(verdicts), Array(4).fill(VERDICT.ALLOWED));
  assert.equal(check.counters.hashed, 1);
});

Deno.test("BcryptCheck hashes for an unknown user too (as long as for a known one) and denies", async () => {
  const h = manualHashers();
  const check = new BcryptCheck(USERS, { newHasher: h.newHasher });
  const verdict = check.check("mallory", pw("pa:ss"));
  await h.finish();
  assert.equal(await verdict, VERDICT.DENIED);
  assert.deepEqual(h.settings, [ALICE]);
});

Deno.test("BcryptCheck with libcrypt allows the right password, with colons, and denies a wrong one", async () => {
  const check = new BcryptCheck(USERS);
  assert.equal(await check.check("alice", pw("pa:ss")), VERDICT.ALLOWED);
  assert.equal(await check.check("alice", pw("pa:sS")), VERDICT.DENIED);
  assert.equal(await check.check("bob", pw("x")), VERDICT.DENIED); // a hash libcrypt refuses never allows
  assert.equal(check.check("alice", pw("pa:ss")), VERDICT.ALLOWED);
});
