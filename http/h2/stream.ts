// One HTTP/2 stream as the session keeps it (RFC 9113 §5.1): a request, its body, its response and
// where sending it has got to. It owns its request body (BodyOwner) and forwards what the body
// reports to its session, the StreamOwner.

import type { RequestHead } from "../request_head.ts";
import type { BodyOwner, RequestBody } from "../request_body.ts";
import type { HttpError } from "../status.ts";
import type { FileBody, HttpRequest, HttpResponse } from "../types.ts";
import { STREAM_STATE, type StreamState } from "./stream_states.ts";
import { STREAM_WINDOW } from "./options.ts";

/** What a stream's request body reports reach: its session (session_intake.ts). */
export interface StreamOwner {
  /** A handler began to read the body. */
  streamBodyClaimed(stream: Stream): void;
  /** Queued body bytes were taken or dropped. */
  streamBodyDrained(stream: Stream): void;
  /** A read found the body unacceptable. */
  streamBodyRefused(stream: Stream, error: HttpError): void;
}

/** One request and its response. It owns its request body (BodyOwner), forwarding to its session. */
export class Stream implements BodyOwner {
  state: StreamState = STREAM_STATE.IDLE;
  head: RequestHead | null = null;
  body: RequestBody | null = null;
  request: HttpRequest | null = null;
  /** Body bytes the client may still send (our window for it). */
  recvWindow = STREAM_WINDOW;
  /** Body bytes we may still send (the client's window for us). */
  sendWindow: number;
  /** Body bytes received, padding excluded. */
  received = 0;
  /** Unread body bytes counted against the connection window. */
  held = 0;
  response: HttpResponse | null = null;
  /** The server answered in the handler's place (413, 431, 408…): the handler's answer is dropped. */
  overridden = false;
  /** 100 (Continue) was sent. */
  continued = false;
  status = 0;
  headersSent = false;
  /** The response's bytes: a copy-free view, sent from `offset`. */
  bytes: Uint8Array | null = null;
  offset = 0;
  file: FileBody | null = null;
  fileOffset = 0;
  fileLeft = 0;
  reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  chunks: Uint8Array[] = [];
  chunkBytes = 0;
  reading = false;
  readerDone = false;
  /** When its head arrived (for onComplete), 0 when nobody times responses. */
  started = 0;
  /** DATA payload bytes composed for it (what left, once composed output reaches the kernel). */
  bodySent = 0;
  /** When its request body last made progress, or its window last reopened (the body deadline). */
  bodyAt = 0;
  /** When it began to wait for the peer to open a window, -1 while it does not (the write deadline). */
  stalledAt = -1;
  /** Its handler was called and has not settled: it holds a concurrency slot until it does. */
  handlerPending = false;
  /** It left the session's table while its handler still runs (counted in the session's orphans). */
  orphan = false;

  constructor(readonly id: number, readonly owner: StreamOwner, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  bodyClaimed(): void {
    this.owner.streamBodyClaimed(this);
  }
  bodyDrained(): void {
    this.owner.streamBodyDrained(this);
  }
  bodyCancelled(): void {
    this.owner.streamBodyDrained(this);
  }
  bodyRefused(_body: RequestBody, error: HttpError): void {
    this.owner.streamBodyRefused(this, error);
  }
}
