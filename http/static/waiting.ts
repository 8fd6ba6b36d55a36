// What a static answer holds while it waits or is sent: the requests waiting for a compressed
// copy (a copy nobody waits for any more is not started), and a file range whose closing closes
// the file once.

import { STATUS } from "../status.ts";
import type { FileBody, HttpRequest, HttpResponse, ResponseObserver } from "../types.ts";

/** How many requests wait for one copy being made: it is started only while one still does. */
export interface CopyWaiters {
  count: number;
}

/**
 * One request waiting for a copy: it counts among the copy's waiters until the copy is settled
 * or its client leaves (its connection closes: the response observer hears `false`). It
 * observes the request in place of, and passing on to, any observer set before.
 */
export class CopyWaiter implements ResponseObserver {
  #waiters: CopyWaiters;
  #previous: ResponseObserver | null;
  #waiting = true;
  /** The client left before the copy was settled. */
  left = false;

  constructor(request: HttpRequest, waiters: CopyWaiters) {
    this.#waiters = waiters;
    waiters.count++;
    this.#previous = request.observer;
    request.observer = this;
  }

  responseDone(ok: boolean): void {
    this.#previous?.responseDone(ok);
    if (ok || !this.#waiting) return;
    this.left = true;
    this.#stop();
  }

  /** The copy is settled (made, skipped or failed): no longer a waiter. */
  settled(): void {
    if (this.#waiting) this.#stop();
  }

  #stop(): void {
    this.#waiting = false;
    this.#waiters.count--;
  }
}

/**
 * What a request whose client left while it waited for a copy gets: nothing reads it (the
 * connection has dropped its place and releases whatever comes), so no answer is made for it.
 */
export const CLIENT_LEFT: HttpResponse = { status: STATUS.SERVICE_UNAVAILABLE };

/** A range of an open file for sendfile; closing it closes the file, once. */
export function fileBody(close: (fd: number) => void, fd: number, offset: number, length: number): FileBody {
  let closed = false;
  return {
    kind: "file",
    fileFd: fd,
    offset,
    length,
    close() {
      if (closed) return;
      closed = true;
      close(fd);
    },
  };
}
