// libcrypt through FFI: bcrypt in its three prefixes gives the hashes other tools give, an
// unknown method gives null, and the hash runs on another thread while this one goes on.

import assert from "node:assert/strict";
import { CryptSlot } from "../../ffi/crypt.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** Hashes made elsewhere: by `htpasswd -B -C 4` ($2y$, $2b$) and OpenBSD's test vectors ($2a$). */
const KNOWN: [string, string][] = [
  ["pa:ss", "$2y$04$Nm8uXuu3eR4Z4o32tjgD/u/2SD47DIHFOrAHabce4Q5C2kQge3f9K"],
  ["pa:ss", "$2b$04$cKKgih5gPjQcFBxoKTKwPesm1REd/Z58W49R9z1aE.VVa6q0lkz3S"],
  ["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
];

Deno.test("CryptSlot.hash() reproduces bcrypt hashes of $2y$, $2b$ and $2a$ and differs for a wrong password", async () => {
  const slot = new CryptSlot();
  for (const [password, hash] of KNOWN) {
    assert.equal(await slot.hash(encode(password), hash), hash);
    assert.notEqual(await slot.hash(encode(password + "x"), hash), hash);
  }
});

Deno.test("CryptSlot.hash() gives null for a setting libcrypt refuses", async () => {
  const slot = new CryptSlot();
  assert.equal(await slot.hash(encode("x"), "$apr1$RVG6oMjI$F/MTGAUzOvIrL3hFPvlqn/"), null);
  assert.equal(await slot.hash(encode("x"), "$2y$99$Nm8uXuu3eR4Z4o32tjgD/u"), null);
});

Deno.test("CryptSlot.hash() runs off the calling thread: the call returns at once, the hash later", async () => {
  const slot = new CryptSlot();
  const setting = "$2b$10$cKKgih5gPjQcFBxoKTKwPe"; // cost 10: ~50 ms here
  const start = performance.now();
  const pending = slot.hash(encode("pa:ss"), setting);
  const returned = performance.now() - start;
  // While it hashes, this thread is free: a slot refuses a second hash instead of corrupting the first.
  await assert.rejects(slot.hash(encode("x"), setting), /in flight/);
  const hash = await pending;
  const total = performance.now() - start;
  assert.match(hash ?? "", /^\$2b\$10\$/);
  assert.ok(returned < 20 && total > 2 * returned, `returned after ${returned} ms, hashed after ${total} ms`);
});
