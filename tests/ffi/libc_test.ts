// The FFI layer: errno, u32 lengths on the fast-call path, sockaddr encoding, listen errors.

import assert from "node:assert/strict";
import { lastErrno, libc } from "../../ffi/libc.ts";
import { errnoName, SyscallError } from "../../ffi/errno.ts";
import { EADDRINUSE, EAGAIN, EBADF, EINVAL, ENOTSOCK, EPIPE } from "../../ffi/errno_numbers.ts";
import { decodeSockaddr, encodeSockaddr, parseHost } from "../../ffi/sockaddr.ts";
import { listenTcp, peekFd, readFd, recvFd, sendFd, sendFile, writeFd } from "../../ffi/socket.ts";
import { makeSocketPair } from "../../ffi/unix_socket.ts";
import { closeFd, memoryFile, openBeneath, openRoot, preadFd } from "../../ffi/files.ts";

/** The descriptors open in this process now. */
function openFds(): Set<string> {
  return new Set([...Deno.readDirSync("/proc/self/fd")].map((e) => e.name));
}

/**
 * Asserts no descriptor is open now that was not open at `before`. Descriptors that closed
 * meanwhile are ignored: the runtime's threads may close what earlier tests let go of (counting
 * the whole process made this test fail when three of those closed during it).
 */
function assertNoNewFds(before: Set<string>): void {
  const opened = [...openFds()].filter((fd) => !before.has(fd));
  // readDirSync's own descriptor is closed before it returns; anything else is a leak.
  assert.deepEqual(opened, [], "descriptors left open");
}

Deno.test("errno is read right after a failing call", () => {
  assert.equal(libc.symbols.close(-1), -1);
  assert.equal(lastErrno(), EBADF);
  assert.equal(errnoName(EADDRINUSE), "EADDRINUSE");
  assert.equal(errnoName(4242), "errno 4242");
});

Deno.test("u32 lengths reach libc exactly, on the JIT's fast path too", () => {
  const baseline = openFds();
  const [a, b] = makeSocketPair();
  const out = new Uint8Array(70_000).map((_, i) => (i * 7 + 3) & 0xff);
  const into = new Uint8Array(70_000);
  // Warm up so V8 optimises the callers and takes the fast-call trampoline.
  for (let i = 0; i < 20_000; i++) {
    assert.equal(writeFd(a.fd, out, 1), 1);
    assert.equal(readFd(b.fd, into, 1), 1);
  }
  let seed = 12345;
  const lengths = [0, 1, 7, 4095, 4096, 65535, 65536];
  for (let i = 0; i < 300; i++) lengths.push((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 60_000);
  for (const length of lengths) {
    const wrote = writeFd(a.fd, out, length);
    assert.ok(wrote >= 0 && wrote <= length, `write of ${length} returned ${wrote}`);
    let got = 0;
    while (got < wrote) {
      const n = readFd(b.fd, got ? into.subarray(got) : into, wrote - got);
      assert.ok(n > 0, `read returned ${n}`);
      got += n;
    }
    assert.equal(got, wrote);
    assert.deepEqual(into.subarray(0, got), out.subarray(0, got), `bytes of a ${length}-byte write`);
    assert.equal(readFd(b.fd, into, 16), -EAGAIN, `no extra bytes after a ${length}-byte write`);
  }
  // A read shorter than what is available returns exactly its length.
  assert.equal(writeFd(a.fd, out, 100), 100);
  assert.equal(readFd(b.fd, into, 10), 10);
  assert.equal(readFd(b.fd, into, 1000), 90);
  a[Symbol.dispose]();
  b[Symbol.dispose]();
  b[Symbol.dispose](); // disposing twice is harmless
  assertNoNewFds(baseline);
});

Deno.test("parseHost() accepts IP literals and localhost only", () => {
  assert.deepEqual(parseHost("127.0.0.1")?.bytes, new Uint8Array([127, 0, 0, 1]));
  assert.deepEqual(parseHost("localhost")?.bytes, new Uint8Array([127, 0, 0, 1]));
  assert.deepEqual(parseHost("::1")?.bytes, new Uint8Array([...new Array(15).fill(0), 1]));
  assert.deepEqual(parseHost("[::1]"), parseHost("::1"));
  assert.deepEqual(
    parseHost("::ffff:127.0.0.1")?.bytes.subarray(10),
    new Uint8Array([255, 255, 127, 0, 0, 1]),
  );
  assert.equal(parseHost("2001:db8::1")?.bytes[1], 0x01);
  for (
    const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", ":::", "1::2::3", "example.com", "", "1:2:3:4:5:6:7:8:9"]
  ) {
    assert.equal(parseHost(bad), null, bad);
  }
});

Deno.test("sockaddr encoding puts the port in network order and round-trips", () => {
  const v4 = encodeSockaddr(2, new Uint8Array([127, 0, 0, 1]), 8080);
  assert.equal(v4.length, 16);
  assert.deepEqual([...v4.subarray(0, 8)], [2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
  assert.deepEqual(decodeSockaddr(v4), { family: 2, host: "127.0.0.1", port: 8080 });
  const v6 = encodeSockaddr(10, parseHost("2001:db8::1")!.bytes, 443);
  assert.equal(v6.length, 28);
  assert.deepEqual(decodeSockaddr(v6), { family: 10, host: "2001:db8::1", port: 443 });
});

Deno.test("listenTcp() binds an ephemeral port and explains an address in use", () => {
  const baseline = openFds();
  using first = listenTcp({ host: "127.0.0.1", port: 0 });
  assert.ok(first.port > 0);
  assert.throws(
    () => listenTcp({ host: "127.0.0.1", port: first.port }),
    (e: unknown) =>
      // The facts, for the caller to word the hint (the CLI names --port, serve() its option).
      e instanceof SyscallError && e.errno === EADDRINUSE && e.facts.port === first.port &&
      /^Cannot listen on 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)$/.test(e.message),
  );
  assert.throws(
    () => listenTcp({ host: "example.com", port: 0 }),
    (e: unknown) => e instanceof SyscallError && e.errno === EINVAL && e.facts.host === "example.com",
  );
  first[Symbol.dispose]();
  assertNoNewFds(baseline);
});

Deno.test("preadFd() reads at offsets past 2^31 and 2^32 exactly (u32 and BigInt symbols)", () => {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-pread-" });
  const path = `${dir}/sparse.bin`;
  try {
    using file = Deno.openSync(path, { create: true, write: true, read: true });
    const offsets = [0, 2 ** 31 - 3, 2 ** 31 + 5, 2 ** 32 - 2, 2 ** 32 + 7];
    for (const [i, offset] of offsets.entries()) {
      file.seekSync(offset, Deno.SeekMode.Start);
      file.writeSync(new Uint8Array([i + 1, i + 101, i + 201]));
    }
    const fd = libc.symbols.open(new TextEncoder().encode(`${path}\0`), 0, 0);
    assert.ok(fd >= 0);
    const buf = new Uint8Array(3);
    for (let round = 0; round < 2000; round++) { // warm: the fast-call path too
      for (const [i, offset] of offsets.entries()) {
        assert.equal(preadFd(fd, buf, 3, offset), 3);
        assert.deepEqual([...buf], [i + 1, i + 101, i + 201], `at ${offset}`);
      }
    }
    assert.equal(preadFd(fd, buf, 3, 2 ** 32 + 10), 0, "end of file");
    libc.symbols.close(fd);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("peekFd() sees bytes without taking them", () => {
  const [a, b] = makeSocketPair();
  const buf = new Uint8Array(8);
  assert.equal(peekFd(b.fd, buf, 8), -EAGAIN);
  writeFd(a.fd, new Uint8Array([0x16, 3, 1]), 3);
  assert.equal(peekFd(b.fd, buf, 1), 1);
  assert.equal(buf[0], 0x16);
  assert.equal(readFd(b.fd, buf, 8), 3, "still there to read");
  a[Symbol.dispose]();
  assert.equal(peekFd(b.fd, buf, 1), 0, "end of stream");
  b[Symbol.dispose]();
});

Deno.test("sendFd() and recvFd() move a socket's bytes as write() and read() do; a gone peer is EPIPE", () => {
  const [a, b] = makeSocketPair();
  const buf = new Uint8Array(64);
  assert.equal(recvFd(b.fd, buf, 64), -EAGAIN, "nothing sent yet");
  assert.equal(sendFd(a.fd, new Uint8Array([1, 2, 3, 4, 5]), 4), 4, "only `length` bytes");
  assert.equal(recvFd(b.fd, buf, 2), 2);
  assert.deepEqual([...buf.subarray(0, 2)], [1, 2]);
  assert.equal(recvFd(b.fd, buf, 64), 2, "the rest");
  assert.deepEqual([...buf.subarray(0, 2)], [3, 4]);
  b[Symbol.dispose]();
  assert.equal(sendFd(a.fd, buf, 1), -EPIPE, "the peer has gone: an error, not a signal");
  assert.equal(recvFd(a.fd, buf, 1), 0, "end of stream");
  a[Symbol.dispose]();
  const file = memoryFile("not-a-socket", new Uint8Array([7]));
  assert.equal(recvFd(file.fd.fd, buf, 1), -ENOTSOCK, "sockets only");
  file.fd[Symbol.dispose]();
});

Deno.test("memoryFile holds its bytes at /proc/self/fd/N until disposed, on no disk", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
  const { fd, path } = memoryFile("rawserve-test", bytes);
  assert.match(Deno.readLinkSync(path), /^\/memfd:rawserve-test/);
  assert.deepEqual(Deno.readFileSync(path), bytes);
  fd[Symbol.dispose]();
  assert.throws(() => Deno.readLinkSync(path));
});

Deno.test("sendFile() sends from offsets past 4 GiB, where off_t's upper half counts", () => {
  const before = openFds();
  const dir = Deno.makeTempDirSync();
  try {
    // A sparse file: "tail" at 4 GiB + 7, nothing stored below it.
    const at = 2 ** 32 + 7;
    const file = Deno.openSync(`${dir}/sparse.bin`, { write: true, create: true });
    file.seekSync(at, Deno.SeekMode.Start);
    file.writeSync(new TextEncoder().encode("tail"));
    file.close();
    using root = openRoot(dir, true);
    const fd = openBeneath(root.fd, "sparse.bin", false);
    assert.ok(fd >= 0, "opened the sparse file");
    const [a, b] = makeSocketPair();
    const buf = new Uint8Array(16);
    try {
      assert.equal(sendFile(a.fd, fd, at, 4), 4);
      assert.equal(readFd(b.fd, buf, 16), 4);
      assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), "tail");
      // From 4 GiB + 5: two zero bytes of the hole, then the start of "tail" (the low half alone, 5, would send zeros).
      assert.equal(sendFile(a.fd, fd, at - 2, 3), 3);
      assert.equal(readFd(b.fd, buf, 16), 3);
      assert.deepEqual([...buf.subarray(0, 3)], [0, 0, "t".charCodeAt(0)]);
    } finally {
      closeFd(fd);
      a[Symbol.dispose]();
      b[Symbol.dispose]();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assertNoNewFds(before);
});
