// A TLS connection over an accepted socket, as a connection's Transport and the reactor's
// handler for its fd. It owns the descriptor, the SSL object and a reference to the TLS context
// (taken at accept, dropped after the SSL object is freed), and releases each once. Until the
// handshake is done it alone decides the epoll interest (from SSL_ERROR_WANT_READ/WANT_WRITE)
// and there is no Connection yet; after it, it maps the connection's wishes onto what OpenSSL
// needs, as nginx's ngx_event_openssl.c does.

import {
  BIO_CTRL_GET_KTLS_SEND,
  libcrypto,
  libssl,
  SSL_ERROR,
  sslErrorReason,
  takeSslError,
} from "../../ffi/libssl.ts";
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, lastErrno, libc } from "../../ffi/libc.ts";
import { errnoName } from "../../ffi/errno.ts";
import { EAGAIN, EPIPE, EPROTO } from "../../ffi/errno_numbers.ts";
import { peekFd, peerAddress, shutdownWrite } from "../../ffi/socket.ts";
import type { IoHandler, Reactor } from "../../loop/reactor.ts";
import type { Timer } from "../../loop/timers.ts";
import type { Session, Transport } from "../../http/types.ts";
import type { TransportOwner } from "./socket_transport.ts";
import type { TlsTransportOptions } from "./tls_transport_options.ts";
import { FILE_BUF, fileChunk, readFileRange, releaseFileChunk } from "./tls_file_chunk.ts";
import { answerPlainHttp, lingerEnded, REJECT_LINGER_MS } from "./plain_http_answer.ts";
import type { TlsContext } from "./tls_context.ts";
import { negotiatedProtocol } from "./alpn.ts";
import { moveToNamedContext, SNI_HANDSHAKE } from "./sni.ts";

const {
  SSL_new,
  SSL_free,
  SSL_set_fd,
  SSL_set_accept_state,
  SSL_do_handshake,
  SSL_read,
  SSL_write,
  SSL_get_error,
  SSL_has_pending,
  SSL_shutdown,
  SSL_session_reused,
  SSL_get_wbio,
  SSL_sendfile,
} = libssl.symbols;
const { close } = libc.symbols;
const { BIO_ctrl } = libcrypto.symbols;

/** A TLS record's content type for a handshake (RFC 8446 §5.1); a ClientHello starts with it. */
const RECORD_HANDSHAKE = 0x16;

/** The first byte a client sent, peeked to tell TLS from plain HTTP. */
const FIRST_BYTE = new Uint8Array(1);

/** Where a TLS connection is in its life. */
const STATE = { PEEK: 0, HANDSHAKE: 1, OPEN: 2, REJECTING: 3, CLOSED: 4 } as const;
type State = typeof STATE[keyof typeof STATE];

/** A TLS connection seen by a Connection as its Transport, and by the reactor as an IoHandler. */
export class TlsTransport implements Transport, IoHandler, Disposable {
  /** The connection this carries, once the handshake is done. */
  connection: Session | null = null;
  /** Hears once that the socket is closed, by whichever session owned it (the server counts it). */
  owner: TransportOwner | null = null;
  #fd: number;
  #reactor: Reactor;
  #options: TlsTransportOptions;
  /** The SSL_CTX this connection holds a reference to (retained), until closed. */
  #ctx: Deno.PointerObject | null;
  /**
   * The context SNI moved this connection to, retained until closed like the default: a reload
   * may dispose it (its owner's reference) while the connection still uses its certificate.
   */
  #named: TlsContext | null = null;
  #ssl: Deno.PointerObject | null = null;
  #state: State = STATE.PEEK;
  #timer: Timer | null;
  /** The interest epoll has. */
  #interest = EPOLLIN;
  /** What the connection wants (a fresh socket: readable, as SocketTransport). */
  #connRead = true;
  #connWrite = false;
  /** SSL_read needs the socket writable first (it owes a record), or SSL_write readable. */
  #readWantsWrite = false;
  #writeWantsRead = false;
  /** OpenSSL holds input epoll cannot see (SSL_has_pending after a read that filled the buffer). */
  #pending = false;
  #fed = false;
  /** A fatal error happened: SSL_shutdown must not be called (SSL_shutdown(3)). */
  #fatal = false;
  #shutdownSent = false;
  #ktls = false;
  #remote: { host: string; port: number } | null = null;
  /** The load balancer's address (`host:port`) when a PROXY header named the client, else null. */
  via: string | null = null;
  /** Whether the session was resumed from a ticket (set at the end of the handshake). */
  resumed = false;
  /** The protocol ALPN chose (`h2`, `http/1.1`), or "" without ALPN (set with `resumed`). */
  protocol = "";

  /**
   * @param fd an accepted, non-blocking socket this object now owns
   * @param reactor the reactor it is registered with (by the caller, for EPOLLIN)
   * @param options the context, the handshake deadline and the server's hooks
   */
  constructor(fd: number, reactor: Reactor, options: TlsTransportOptions) {
    this.#fd = fd;
    this.#reactor = reactor;
    this.#options = options;
    this.#ctx = options.context.retain();
    this.#timer = reactor.timer(() => this.#abort("tls handshake timeout"));
    this.#timer.arm(options.handshakeTimeoutMs);
  }

  /** The socket's descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /** Whether files go out through kernel TLS (SSL_sendfile). */
  get kernelTls(): boolean {
    return this.#ktls;
  }

  /** Without kernel TLS, sendfile reads the file and SSL_writes it: framing callers may do so. */
  get copiesFiles(): boolean {
    return !this.#ktls;
  }

  /** pread(2) of a file range into the caller's buffer (for `copiesFiles`), short only at its end. */
  readFile(fileFd: number, offset: number, buf: Uint8Array, length: number): number {
    return readFileRange(fileFd, offset, buf, length);
  }

  /** Begins the handshake: with TCP_DEFER_ACCEPT the ClientHello is usually here already. */
  start(): void {
    this.#advance();
  }

  onEvents(events: number): void {
    switch (this.#state) {
      case STATE.OPEN:
        return this.#dispatch(events);
      case STATE.PEEK:
      case STATE.HANDSHAKE:
        return this.#advance();
      case STATE.REJECTING:
        return this.#lingerRead();
    }
  }

  /** Hands an event to the connection by what each direction waits for, then re-arms. */
  #dispatch(events: number): void {
    const conn = this.connection!;
    this.#fed = false;
    const readVia = this.#readWantsWrite ? EPOLLOUT : EPOLLIN;
    const writeVia = this.#writeWantsRead ? EPOLLIN : EPOLLOUT;
    // EPOLLHUP/EPOLLERR reach the connection's read side, as on a plain socket: the read reports it.
    if ((this.#connRead && (events & readVia)) || (events & (EPOLLHUP | EPOLLERR))) conn.onReadable();
    if (this.#state === STATE.OPEN && this.#connWrite && (events & writeVia)) conn.onWritable();
    if (this.#state === STATE.OPEN) this.#apply();
  }

  // --- before HTTP: peek, handshake, or the answer to plain HTTP -------------------------------

  /** Moves the handshake on as far as the socket allows. */
  #advance(): void {
    if (this.#state === STATE.PEEK && !this.#peek()) return;
    const ssl = this.#ssl!;
    SNI_HANDSHAKE.transport = this; // the servername callback runs inside SSL_do_handshake, if at all
    const r = SSL_do_handshake(ssl);
    SNI_HANDSHAKE.transport = null;
    if (r === 1) return this.#established();
    const errno = lastErrno();
    const err = SSL_get_error(ssl, r);
    if (err === SSL_ERROR.WANT_READ) return this.#setEpoll(EPOLLIN);
    if (err === SSL_ERROR.WANT_WRITE) return this.#setEpoll(EPOLLOUT);
    this.#fatal = true;
    const code = takeSslError();
    if (err === SSL_ERROR.SSL) return this.#abort(`tls handshake: ${sslErrorReason(code)}`);
    return this.#abort(errno ? `tls handshake: ${errnoName(errno)}` : "tls handshake: peer closed");
  }

  /**
   * Looks at the first byte without taking it, as nginx does: a TLS record starts with 0x16; a
   * letter is plain HTTP; anything else is not for us.
   * @returns true once the SSL object exists and the handshake can run
   */
  #peek(): boolean {
    const n = peekFd(this.#fd, FIRST_BYTE, 1);
    if (n === -EAGAIN) {
      this.#setEpoll(EPOLLIN);
      return false;
    }
    if (n <= 0) {
      this.#abort(n === 0 ? "tls handshake: peer closed" : `tls handshake: ${errnoName(-n)}`);
      return false;
    }
    const first = FIRST_BYTE[0]!;
    if (first >= 0x41 && first <= 0x5a) { // A-Z: a request line's method (RFC 9110 §9)
      this.#rejectPlainHttp();
      return false;
    }
    if (first !== RECORD_HANDSHAKE) {
      this.#abort("tls: not TLS");
      return false;
    }
    const ssl = SSL_new(this.#ctx!);
    if (!ssl || SSL_set_fd(ssl, this.#fd) !== 1) {
      if (ssl) SSL_free(ssl);
      this.#abort(`tls: SSL_new failed (${sslErrorReason(takeSslError())})`);
      return false;
    }
    SSL_set_accept_state(ssl);
    this.#ssl = ssl;
    this.#state = STATE.HANDSHAKE;
    return true;
  }

  /** The servername callback's work for this connection (app/transport/sni.ts moves it). */
  chooseContext(ssl: Deno.PointerObject): void {
    const choose = this.#options.chooseContext;
    if (!choose || this.#named || !this.#ssl || !Deno.UnsafePointer.equals(ssl, this.#ssl)) return;
    this.#named = moveToNamedContext(ssl, choose, this.#options.context);
  }

  #established(): void {
    const ssl = this.#ssl!;
    this.#state = STATE.OPEN;
    this.#timer!.dispose();
    this.#timer = null;
    this.resumed = SSL_session_reused(ssl) === 1;
    this.protocol = negotiatedProtocol(ssl);
    if (this.#options.ktls) {
      this.#ktls = Number(BIO_ctrl(SSL_get_wbio(ssl), BIO_CTRL_GET_KTLS_SEND, 0n, null)) > 0;
    }
    this.#setEpoll(EPOLLIN);
    // The server makes the Connection and reads at once: the request often came in the same
    // flight as the client's Finished, and read-ahead may already hold it.
    this.#options.hooks.established(this);
    if (this.#state === STATE.OPEN) this.#apply();
  }

  /**
   * Plain HTTP on the TLS port: read what was sent (so closing sends FIN rather than an RST
   * that could destroy the answer), answer 400 in plain text, and close after the client's FIN
   * or REJECT_LINGER_MS.
   */
  #rejectPlainHttp(): void {
    answerPlainHttp(this.#fd);
    this.#state = STATE.REJECTING;
    this.#timer!.arm(Math.min(REJECT_LINGER_MS, this.#options.handshakeTimeoutMs));
    this.#setEpoll(EPOLLIN);
  }

  #lingerRead(): void {
    if (!lingerEnded(this.#fd)) return;
    this.#abort(null);
  }

  /**
   * Closes a connection that never carried HTTP and tells the server why: a plain-HTTP client
   * is counted as such however its linger ends.
   */
  #abort(kind: string | null): void {
    if (this.#state === STATE.CLOSED) return;
    const why = this.#state === STATE.REJECTING ? "tls: plain HTTP" : kind;
    this[Symbol.dispose]();
    this.#options.hooks.ended(this, why);
  }

  // --- Transport ----------------------------------------------------------------------------

  /**
   * SSL_read into `buf[0, length)`, record after record while OpenSSL holds more and there is
   * room. OpenSSL may hold records the socket no longer shows (read-ahead took them): when the
   * buffer fills with more waiting, `#pending` makes the next wish to read a fed event.
   */
  read(buf: Uint8Array, length: number): number {
    const ssl = this.#ssl;
    if (!ssl || this.#state !== STATE.OPEN) return -EPIPE;
    if (length === 0) return 0;
    this.#readWantsWrite = false;
    let total = 0;
    for (;;) {
      const n = SSL_read(ssl, total ? buf.subarray(total) : buf, length - total);
      if (n > 0) {
        total += n;
        const more = SSL_has_pending(ssl) === 1;
        if (total < length && more) continue;
        this.#pending = more;
        return total;
      }
      this.#pending = false;
      const r = this.#failed(n, true);
      return total > 0 ? total : r; // after data, the condition shows again on the next read
    }
  }

  /**
   * SSL_write of `buf[0, length)`, one record (up to 16 KiB) per call, until done or blocked.
   *
   * SSL_MODE_ENABLE_PARTIAL_WRITE makes SSL_write report each record as it leaves, which is what
   * a Transport promises (bytes accepted, the rest is the caller's); without it one SSL_write
   * reports nothing until the whole buffer is out. When a record cannot leave at once, OpenSSL
   * keeps it, encrypted, and SSL_write returns WANT_WRITE: the caller must offer the same bytes
   * again (SSL_write(3)); the output queue does, but from a copy at another address, which
   * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows (only the contents must stay the same).
   */
  write(buf: Uint8Array, length: number): number {
    const ssl = this.#ssl;
    if (!ssl || this.#state !== STATE.OPEN) return -EPIPE;
    this.#writeWantsRead = false;
    let total = 0;
    while (total < length) {
      const n = SSL_write(ssl, total ? buf.subarray(total) : buf, length - total);
      if (n > 0) {
        total += n;
        continue;
      }
      const r = this.#failed(n, false);
      return total > 0 ? total : r;
    }
    return total;
  }

  /**
   * sendfile(2) cannot encrypt. With kernel TLS, SSL_sendfile has the kernel do it; without,
   * the range is read into a shared buffer and written with SSL_write.
   */
  sendfile(fileFd: number, offset: number, count: number): number {
    const ssl = this.#ssl;
    if (!ssl || this.#state !== STATE.OPEN) return -EPIPE;
    if (this.#ktls) {
      const n = Number(SSL_sendfile(ssl, fileFd, BigInt(offset), BigInt(count), 0));
      return n >= 0 ? n : this.#failed(n, false);
    }
    return this.#sendFileChunk(fileFd, offset, count);
  }

  /**
   * One chunk of a file through SSL_write. A record that blocks is kept by OpenSSL and must be
   * offered again with the same contents: the output queue asks again for the same offset, and
   * pread gives the same bytes (read again only if another connection used the buffer since).
   */
  #sendFileChunk(fileFd: number, offset: number, count: number): number {
    const length = fileChunk(this, fileFd, offset, count);
    if (length <= 0) return length; // 0: the file shrank (the queue fails the response)
    const n = this.write(FILE_BUF, length);
    if (n > 0) releaseFileChunk(this); // the next call asks for a later offset
    return n;
  }

  /**
   * Maps a failed SSL_read/SSL_write to what a Transport returns, and notes which readiness a
   * retry waits for. errno is read first: it belongs to the system call inside OpenSSL.
   * @returns -EAGAIN, 0 (end of stream, reads only), or -errno
   */
  #failed(ret: number, reading: boolean): number {
    const errno = lastErrno();
    const err = SSL_get_error(this.#ssl!, ret);
    switch (err) {
      case SSL_ERROR.WANT_READ:
        if (!reading) this.#writeWantsRead = true;
        return -EAGAIN;
      case SSL_ERROR.WANT_WRITE:
        if (reading) this.#readWantsWrite = true;
        return -EAGAIN;
      case SSL_ERROR.ZERO_RETURN: // the peer's close_notify
        return reading ? 0 : -EPIPE;
      case SSL_ERROR.SYSCALL:
        this.#fatal = true;
        takeSslError();
        if (errno) return -errno;
        return reading ? 0 : -EPIPE; // an EOF without close_notify
      default:
        this.#fatal = true;
        takeSslError();
        return -EPROTO; // a bad record or an alert: the session cannot go on
    }
  }

  setInterest(readable: boolean, writable: boolean): void {
    this.#connRead = readable;
    this.#connWrite = writable;
    if (this.#state === STATE.OPEN) this.#apply();
  }

  /**
   * Sets the epoll interest from the connection's wishes, each mapped onto the readiness
   * OpenSSL waits for; and feeds a read when OpenSSL holds input epoll will not report.
   */
  #apply(): void {
    let events = 0;
    if (this.#connRead) events |= this.#readWantsWrite ? EPOLLOUT : EPOLLIN;
    if (this.#connWrite) events |= this.#writeWantsRead ? EPOLLIN : EPOLLOUT;
    this.#setEpoll(events);
    if (this.#connRead && this.#pending && !this.#fed && !this.#readWantsWrite) {
      this.#fed = true;
      this.#reactor.feed(this, EPOLLIN);
    }
  }

  #setEpoll(events: number): void {
    if (events === this.#interest) return;
    this.#interest = events;
    this.#reactor.modify(this.#fd, events);
  }

  /**
   * Sends close_notify, then FIN; reading goes on until the peer's (RFC 8446 §6.1 lets the
   * reading side stay open after our close_notify).
   */
  shutdownWrite(): void {
    if (this.#ssl && !this.#fatal && !this.#shutdownSent) {
      this.#shutdownSent = true;
      if (SSL_shutdown(this.#ssl) < 0) takeSslError();
    }
    shutdownWrite(this.#fd);
  }

  /**
   * The client named by a PROXY header, in place of the socket's peer (the balancer), which
   * `via` keeps for the status page.
   */
  setPeer(client: { host: string; port: number }, via: string): void {
    this.#remote = client;
    this.via = via;
  }

  remoteAddress(): string {
    return (this.#remote ??= peerAddress(this.#fd)).host;
  }

  remotePort(): number {
    return (this.#remote ??= peerAddress(this.#fd)).port;
  }

  close(): void {
    this[Symbol.dispose]();
  }

  /**
   * Sends close_notify when the session is sound (RFC 9112 §9.8: a server closes with one, and
   * need not wait for the client's), frees the SSL object, leaves the reactor and closes the
   * socket, once.
   */
  [Symbol.dispose](): void {
    if (this.#state === STATE.CLOSED) return;
    const open = this.#state === STATE.OPEN;
    this.#state = STATE.CLOSED;
    this.#timer?.dispose();
    this.#timer = null;
    const ssl = this.#ssl;
    if (ssl) {
      this.#ssl = null;
      if (open && !this.#fatal && !this.#shutdownSent && SSL_shutdown(ssl) < 0) takeSslError();
      SSL_free(ssl);
    }
    if (this.#ctx) {
      this.#ctx = null;
      this.#options.context.release(); // after SSL_free, which drops the SSL object's own reference
    }
    if (this.#named) {
      const named = this.#named;
      this.#named = null;
      named.release();
    }
    releaseFileChunk(this);
    this.#reactor.forget(this.#fd);
    close(this.#fd);
    this.owner?.transportClosed(this);
  }
}
