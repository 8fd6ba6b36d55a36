// /proc through our own system calls, which need no --allow-all (Deno.readDirSync of /proc does).

import assert from "node:assert/strict";
import { countDirEntries, countOpenFds, readProcText } from "../../ffi/procfs.ts";

Deno.test("countDirEntries() counts /proc/self/fd as the kernel lists it, itself included", () => {
  const seen = [...Deno.readDirSync("/proc/self/fd")].length; // also holds one descriptor while reading
  assert.equal(countDirEntries("/proc/self/fd"), seen);
  const dir = Deno.makeTempDirSync();
  try {
    assert.equal(countDirEntries(dir), 0, '"." and ".." are not counted');
    for (let i = 0; i < 2000; i++) Deno.writeTextFileSync(`${dir}/file-with-a-longish-name-${i}`, "");
    assert.equal(countDirEntries(dir), 2000, "more entries than one getdents64 call returns");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assert.equal(countDirEntries("/nonexistent"), -1);
});

Deno.test("readProcText() reads /proc files whose size reads as 0", () => {
  const sockstat = readProcText("/proc/net/sockstat")!;
  assert.match(sockstat, /^sockets: used \d+\nTCP: inuse \d+/);
  assert.equal(readProcText("/proc/self/stat")!.split(" ")[0], String(Deno.pid));
  assert.equal(readProcText("/nonexistent"), null);
});

Deno.test("countOpenFds() counts this process's descriptors, without the one it asks with", () => {
  const listed = [...Deno.readDirSync("/proc/self/fd")].length - 1; // less readdir's own
  assert.equal(countOpenFds(), listed);
  const files = Array.from({ length: 20 }, () => Deno.openSync("/proc/self/stat"));
  try {
    assert.equal(countOpenFds(), listed + 20);
  } finally {
    for (const f of files) f.close();
  }
  assert.equal(countOpenFds(), listed);
});
