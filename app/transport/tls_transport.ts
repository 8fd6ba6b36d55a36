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
  TLSEXT_NAMETYPE_HOST_NAME,
} from "../../ffi/libssl.ts";
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, lastErrno, libc } from "../../ffi/libc.ts";
import { errnoName } from "../../ffi/errno.ts";
import { EAGAIN, EPIPE, EPROTO } from "../../ffi/errno_numbers.ts";
import { peekFd, peerAddress, readFd, shutdownWrite, writeFd } from "../../ffi/socket.ts";
import { preadFd } from "../../ffi/files.ts";
import type { IoHandler, Reactor } from "../../loop/reactor.ts";
import type { Timer } from "../../loop/timers.ts";
import type { Session, Transport } from "../../http/types.ts";
import type { TransportOwner } from "./socket_transport.ts";
import type { TlsContext } from "./tls_context.ts";
import { negotiatedProtocol } from "./alpn.ts";
import { SNI_HANDSHAKE } from "./sni.ts";

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
  SSL_get_servername,
  SSL_set_SSL_CTX,
} = libssl.symbols;
const { close } = libc.symbols;
const { BIO_ctrl } = libcrypto.symbols;

/** A TLS record's content type for a handshake (RFC 8446 §5.1); a ClientHello starts with it. */
const RECORD_HANDSHAKE = 0x16;

/**
 * File bytes read per pread when a file goes out over TLS without kernel TLS: four full TLS
 * records (16 KiB each, RFC 8446 §5.1). One buffer serves every connection: a write that
 * blocks is retried from the file (see #sendFileChunk), so no connection keeps file bytes.
 */
export const FILE_CHUNK = 64 * 1024;
const FILE_BUF = new Uint8Array(FILE_CHUNK);
/** Which connection's bytes FILE_BUF holds, so a retry need not read them again. */
let fileBufOwner: TlsTransport | null = null;
let fileBufFd = -1;
let fileBufOffset = -1;
let fileBufLength = 0;

/** Bytes thrown away while answering plain HTTP on the TLS port. */
const SCRATCH = new Uint8Array(16 * 1024);
/** At most this many reads drain a plain-HTTP request before the answer. */
const DRAIN_READS = 4;
/** A lingering close of a plain-HTTP answer waits at most this long for the client's FIN. */
const REJECT_LINGER_MS = 2000;

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

/** Where a TLS connection is in its life. */
const STATE = { PEEK: 0, HANDSHAKE: 1, OPEN: 2, REJECTING: 3, CLOSED: 4 } as const;
type State = typeof STATE[keyof typeof STATE];

/** What the server learns from a TLS connection before it carries HTTP. */
export interface TlsHooks {
  /** The handshake is done: make the Connection, set `transport.connection`, read. */
  established(transport: TlsTransport): void;
  /**
   * The connection ended before it carried HTTP; it is closed already.
   * @param kind an error counter to add to (a bounded set of names), or null for none
   */
  ended(transport: TlsTransport, kind: string | null): void;
}

/** What a TLS connection needs from its server. */
export interface TlsTransportOptions {
  /**
   * The context of the moment (a reload changes it for new connections only). The transport
   * retains it at once and releases it when closed: SSL_new runs only at the first byte, which
   * may come after a reload has dropped the server's reference.
   */
  context: TlsContext;
  /** The whole handshake must be done within this. */
  handshakeTimeoutMs: number;
  /** Whether to look for kernel TLS after the handshake (the context asked for it). */
  ktls: boolean;
  hooks: TlsHooks;
  /**
   * The context for the name a client asks for by SNI (RFC 6066 §3), or null to stay on
   * `context` (the default). Called inside the handshake with the name as OpenSSL holds it (a C
   * string, valid during the call); what it returns must not be disposed yet (the server's
   * current contexts). Absent: one certificate, and no name is looked at.
   */
  chooseContext?: (name: Deno.PointerObject) => TlsContext | null;
}

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
    const n = peekFd(this.#fd, SCRATCH, 1);
    if (n === -EAGAIN) {
      this.#setEpoll(EPOLLIN);
      return false;
    }
    if (n <= 0) {
      this.#abort(n === 0 ? "tls handshake: peer closed" : `tls handshake: ${errnoName(-n)}`);
      return false;
    }
    const first = SCRATCH[0]!;
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

  /**
   * The servername callback's work for this connection: the name asked, the context the server
   * chooses for it, a reference taken, and the SSL moved to it (its certificate, chain and key).
   * Anything that fails leaves the connection on the default certificate.
   */
  chooseContext(ssl: Deno.PointerObject): void {
    const choose = this.#options.chooseContext;
    if (!choose || this.#named || !this.#ssl || !Deno.UnsafePointer.equals(ssl, this.#ssl)) return;
    const name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_HOST_NAME);
    if (!name) return; // no SNI (an IP address was dialled): the default
    const context = choose(name);
    if (!context || context === this.#options.context) return;
    const ctx = context.retain();
    if (SSL_set_SSL_CTX(ssl, ctx) === null) {
      takeSslError();
      context.release();
      return;
    }
    this.#named = context;
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
    for (let i = 0; i < DRAIN_READS && readFd(this.#fd, SCRATCH, SCRATCH.length) > 0; i++);
    writeFd(this.#fd, PLAIN_HTTP_ANSWER, PLAIN_HTTP_ANSWER.length);
    shutdownWrite(this.#fd);
    this.#state = STATE.REJECTING;
    this.#timer!.arm(Math.min(REJECT_LINGER_MS, this.#options.handshakeTimeoutMs));
    this.#setEpoll(EPOLLIN);
  }

  #lingerRead(): void {
    const n = readFd(this.#fd, SCRATCH, SCRATCH.length);
    if (n === -EAGAIN || n > 0) return;
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
    const want = Math.min(count, FILE_CHUNK);
    if (fileBufOwner !== this || fileBufFd !== fileFd || fileBufOffset !== offset || fileBufLength < want) {
      const got = preadFd(fileFd, FILE_BUF, want, offset);
      if (got <= 0) return got; // 0: the file shrank (the queue fails the response)
      fileBufOwner = this;
      fileBufFd = fileFd;
      fileBufOffset = offset;
      fileBufLength = got;
    }
    const n = this.write(FILE_BUF, Math.min(want, fileBufLength));
    if (n > 0) fileBufOwner = null; // the next call asks for a later offset
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
    if (fileBufOwner === this) fileBufOwner = null;
    this.#reactor.forget(this.#fd);
    close(this.#fd);
    this.owner?.transportClosed(this);
  }
}
