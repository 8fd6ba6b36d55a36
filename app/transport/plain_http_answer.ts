// What a TLS port says to a client that speaks plain HTTP to it: a 400 in plain text, sent after
// draining what the client wrote (so the close is a FIN, not an RST that could destroy the
// answer), then a lingering close until the client's FIN.

import { EAGAIN } from "../../ffi/errno_numbers.ts";
import { readFd, shutdownWrite, writeFd } from "../../ffi/socket.ts";

/** Bytes thrown away while answering plain HTTP on the TLS port. */
const SCRATCH = new Uint8Array(16 * 1024);
/** At most this many reads drain a plain-HTTP request before the answer. */
const DRAIN_READS = 4;
/** A lingering close of a plain-HTTP answer waits at most this long for the client's FIN. */
export const REJECT_LINGER_MS = 2000;

/**
 * The answer to plain HTTP sent to the TLS port, as nginx's 497 does it (a 400 on the wire),
 * in plain text because the client is not speaking TLS.
 */
const PLAIN_HTTP_ANSWER = (() => {
  const body = "This port speaks HTTPS: use an https:// URL.\n";
  return new TextEncoder().encode(
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
})();

/** Drains what the client sent (at most DRAIN_READS reads), writes the answer and sends FIN. */
export function answerPlainHttp(fd: number): void {
  for (let i = 0; i < DRAIN_READS && readFd(fd, SCRATCH, SCRATCH.length) > 0; i++);
  writeFd(fd, PLAIN_HTTP_ANSWER, PLAIN_HTTP_ANSWER.length);
  shutdownWrite(fd);
}

/**
 * One read of the lingering close, its bytes thrown away.
 * @returns true once the client has closed (or the read failed): the socket may be closed
 */
export function lingerEnded(fd: number): boolean {
  const n = readFd(fd, SCRATCH, SCRATCH.length);
  return !(n === -EAGAIN || n > 0);
}
