// htpasswd files: bcrypt lines are read (comments, blank lines and CRLF skipped as Apache does),
// and every other kind of hash is refused with its line number and user.

import assert from "node:assert/strict";
import { HtpasswdError, parseHtpasswd } from "../../../app/site/htpasswd.ts";

const ALICE = "$2y$04$Nm8uXuu3eR4Z4o32tjgD/u/2SD47DIHFOrAHabce4Q5C2kQge3f9K";
const BOB = "$2b$10$cKKgih5gPjQcFBxoKTKwPesm1REd/Z58W49R9z1aE.VVa6q0lkz3S";
const CAROL = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

Deno.test("parseHtpasswd() reads $2y$, $2b$ and $2a$ lines, skipping comments, blank lines and CRs", () => {
  const users = parseHtpasswd(`# team\r\nalice:${ALICE}\r\n\r\n  \nbob:${BOB}\njürgen:${CAROL}\n`);
  assert.deepEqual([...users], [["alice", ALICE], ["bob", BOB], ["jürgen", CAROL]]);
});

Deno.test("parseHtpasswd() refuses other hash kinds in one line naming the line and the user", () => {
  const refused: [string, RegExp][] = [
    [
      "bob:$apr1$RVG6oMjI$F/MTGAUzOvIrL3hFPvlqn/",
      /^line 3: user "bob" has an MD5 \(apr1\) hash; .*htpasswd -B FILE bob/,
    ],
    ["carol:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=", /^line 3: user "carol" has a SHA-1 hash/],
    ["dave:wxq.fmJXvAkkc", /^line 3: user "dave" has a DES crypt hash/],
    ["erin:$6$J9PvGeqN4TaH.l0x$q/J90NAZ3", /^line 3: user "erin" has a SHA-512-crypt hash/],
    ["frank:secret", /^line 3: user "frank" has a plain-text password or unknown hash/],
    ["gina:$2y$10$tooshort", /^line 3: user "gina" has a malformed bcrypt hash/],
    [`hank:${ALICE.replace("$04$", "$03$")}`, /^line 3: user "hank" has bcrypt cost 3; use 4 to 17/],
    [`ida:${ALICE.replace("$04$", "$18$")}`, /^line 3: user "ida" has bcrypt cost 18/],
    [`alice:${BOB}`, /^line 3: user "alice" is listed again \(first on line 1\)/],
    ["no colon here", /^line 3 is not user:hash/],
    [`:${BOB}`, /^line 3 is not user:hash/],
  ];
  for (const [line, message] of refused) {
    const text = `alice:${ALICE}\n# a comment\n${line}\n`;
    assert.throws(
      () => parseHtpasswd(text),
      (e) => e instanceof HtpasswdError && message.test(e.message),
      line,
    );
    assert.throws(() => parseHtpasswd(text), (e) => !(e as Error).message.includes("\n"), line);
  }
});

Deno.test("parseHtpasswd() refuses a file without users", () => {
  for (const text of ["", "\n", "# only a comment\n"]) {
    assert.throws(() => parseHtpasswd(text), /no users/);
  }
});
