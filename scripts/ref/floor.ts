// The Deno floor for scripts/bench/: floor.c's algorithm in TypeScript over rawserve's own ffi/
// bindings and its reactor (the same wait strategy, SYNC_WAIT_MS included), so it pays the runtime
// costs rawserve pays (FFI calls, V8, Deno's event loop between batches) and nothing of HTTP. One
// recv and one send of precomputed bytes per batch of requests, counted by "\r\n\r\n" only. A
// reference, not a server: it assumes each read holds whole requests and each send of bytes is
// taken whole (true for wrk on loopback), and it never times anything out.
//
// With BODY_FILE (the 1 MiB download, which floor.c sits out), RESPONSE_FILE holds the head alone:
// per request one send of the head, then sendfile(2) of the body from a descriptor kept open,
// waiting for EPOLLOUT through the reactor while the socket is full, as rawserve's static path does.
//
// Run: deno run --allow-ffi --allow-read --allow-env scripts/ref/floor.ts PORT RESPONSE_FILE [BODY_FILE]
// Prints its URL.

import { EPOLLIN, EPOLLOUT, ignoreSigpipe, libc } from "../../ffi/libc.ts";
import { EAGAIN } from "../../ffi/errno_numbers.ts";
import { openBeneath, openRoot } from "../../ffi/files.ts";
import { acceptConnection, listenTcp, recvFd, sendFd, sendFile } from "../../ffi/socket.ts";
import { type IoHandler, Reactor, SYNC_WAIT_MS } from "../../loop/reactor.ts";

const MAX_PIPELINED = 64; // responses sent for one read at most, as floor.c
const { close } = libc.symbols;

/** The number of "\r\n\r\n" in `buf[0, length)`: how many whole requests a read holds. */
function countRequests(buf: Uint8Array, length: number): number {
  let count = 0;
  for (let i = 0; i + 3 < length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
      count++;
      i += 3;
    }
  }
  return count;
}

/** An open file sent after each head: its descriptor (kept open for the run) and its size. */
interface Body {
  fd: number;
  size: number;
}

function openBody(path: string): Body {
  const slash = path.lastIndexOf("/");
  using dir = openRoot(slash < 0 ? "." : path.slice(0, slash) || "/", false);
  const fd = openBeneath(dir.fd, path.slice(slash + 1), true);
  if (fd < 0) throw new Error(`Cannot open ${path} (errno ${-fd})`);
  return { fd, size: Deno.statSync(path).size };
}

const [port, responsePath, bodyPath] = Deno.args;
if (port === undefined || responsePath === undefined) {
  console.error("usage: floor.ts PORT RESPONSE_FILE [BODY_FILE]");
  Deno.exit(2);
}
const response = Deno.readFileSync(responsePath);
const body = bodyPath === undefined ? null : openBody(bodyPath);
// floor.c closes when a request says "Connection: close"; here the response says it instead (the
// bench's close scenario asks it in every request), which spares a second scan of every read.
const closing = new TextDecoder().decode(response).includes("\r\nConnection: close\r\n");
const out = new Uint8Array(response.length * MAX_PIPELINED);
for (let i = 0; i < MAX_PIPELINED; i++) out.set(response, i * response.length);
const input = new Uint8Array(1 << 16);
// As the CLI's file server: a synchronous wait, and no parking for Deno's own I/O (it does none).
const reactor = new Reactor({ syncWaitMs: SYNC_WAIT_MS, parkIntervalMs: 0 });

/** One accepted socket. With a body, it remembers the responses it still owes and how far it got. */
class Connection implements IoHandler {
  #fd: number;
  #owed = 0;
  #sent = -1; // bytes of the current body sent; -1 before its head
  constructor(fd: number) {
    this.#fd = fd;
  }

  onEvents(events: number): void {
    if (events & EPOLLOUT) return this.#sendBodies();
    const n = recvFd(this.#fd, input, input.length);
    if (n === -EAGAIN) return;
    if (n <= 0) return this.#close(); // end of stream or error
    const requests = Math.min(countRequests(input, n), MAX_PIPELINED);
    if (requests === 0) return;
    if (body !== null) {
      this.#owed += requests;
      return this.#sendBodies();
    }
    const sent = sendFd(this.#fd, out, requests * response.length);
    if ((sent < 0 && sent !== -EAGAIN) || closing) this.#close();
  }

  /** Heads and bodies owed, until they are sent or the socket is full (then EPOLLOUT, not EPOLLIN). */
  #sendBodies(): void {
    const { fd, size } = body!;
    while (this.#owed > 0) {
      if (this.#sent < 0) {
        if (sendFd(this.#fd, response, response.length) < 0) return this.#close();
        this.#sent = 0;
      }
      while (this.#sent < size) {
        const n = sendFile(this.#fd, fd, this.#sent, size - this.#sent);
        if (n === -EAGAIN) return void reactor.modify(this.#fd, EPOLLOUT);
        if (n <= 0) return this.#close();
        this.#sent += n;
      }
      this.#sent = -1;
      this.#owed--;
    }
    reactor.modify(this.#fd, EPOLLIN); // no system call unless EPOLLOUT was armed
  }

  #close(): void {
    reactor.forget(this.#fd);
    close(this.#fd); // also leaves the epoll set
  }
}

ignoreSigpipe(); // sendfile(2) has no MSG_NOSIGNAL
const listener = listenTcp({ host: "127.0.0.1", port: Number(port) });
reactor.add(listener.fd, EPOLLIN, {
  onEvents() {
    for (let fd; (fd = acceptConnection(listener.fd)) >= 0;) reactor.add(fd, EPOLLIN, new Connection(fd));
  },
});
console.log(`listening on http://127.0.0.1:${listener.port}/`);
await reactor.run();
