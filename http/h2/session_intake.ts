// The input side of request bodies on an HTTP/2 connection: DATA checked against the windows and
// Content-Length (RFC 9113 §6.9, §8.1.1), pushed to each stream's body, and windows reopened as
// handlers read, so a handler that stops reading stops its client; a body past a limit is answered
// in the handler's place; trailers end a request.

import { FLAG, FRAME, type Frame, FrameWriter, H2_ERROR, H2Error } from "./frames.ts";
import { checkTrailers } from "./semantics.ts";
import { nextState, remoteOpen, STREAM_EVENT, STREAM_STATE } from "./stream_states.ts";
import { CONNECTION_WINDOW, STREAM_WINDOW, WINDOW_STEP } from "./options.ts";
import { PAST_STREAM } from "./stream_ids.ts";
import { countRefusal } from "./session_state.ts";
import { SessionOutput } from "./session_output.ts";
import type { Stream, StreamOwner } from "./stream.ts";
import { HttpError, STATUS, statusResponse } from "../status.ts";
import { countError } from "../stats.ts";

/** One header-list array for every decode: handlers get a copy in their head. */
export const FIELDS: string[] = [];

/** Request bodies and flow control for receiving (the third layer of Http2Session). */
export abstract class SessionIntake extends SessionOutput implements StreamOwner {
  protected onData(buf: Uint8Array, f: Frame): void {
    const n = f.end - f.start;
    // Only payload is progress: an empty or padding-only DATA frame is work for nothing.
    if (n === 0 && !f.has(FLAG.END_STREAM)) this.flood("emptyData");
    // §6.9: DATA counts against the connection window whatever becomes of its stream.
    this.connRecvWindow -= f.length;
    if (this.connRecvWindow < 0) {
      throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    }
    const stream = this.streams.get(f.streamId);
    // §5.1: a stream we closed; its window is the connection's again (#grantConnection).
    if (!stream) return this.onPastStream(f.streamId, FRAME.DATA);
    if (!remoteOpen(stream.state)) return this.reset(stream, H2_ERROR.STREAM_CLOSED);
    stream.recvWindow -= f.length;
    if (stream.recvWindow < 0) return this.reset(stream, H2_ERROR.FLOW_CONTROL_ERROR);
    stream.received += n;
    if (n > 0) stream.bodyAt = this.now(); // the body deadline's progress
    const body = stream.body;
    if (body === null) { // answered without a handler (431, 400…): the data is dropped
      if (f.has(FLAG.END_STREAM)) return this.remoteEnd(stream);
      return this.grant(stream);
    }
    const declared = stream.head!.contentLength;
    if (declared >= 0 && stream.received > declared) { // §8.1.1
      countError(this.stats, "h2 malformed request");
      return this.reset(stream, H2_ERROR.PROTOCOL_ERROR);
    }
    if (stream.received > this.options.maxBodyBytes) {
      return this.refuseBody(stream, new HttpError(STATUS.CONTENT_TOO_LARGE, "Request body too large"));
    }
    if (n > 0) {
      try {
        body.push(buf, f.start, f.end);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        return this.refuseBody(stream, e);
      }
    }
    if (f.has(FLAG.END_STREAM)) return this.remoteEnd(stream);
    this.grant(stream);
  }

  /**
   * A frame on a stream that is not open (RFC 9113 §5.1): on one never opened, a connection
   * error; on one we reset, ignored (it may have left before our RST_STREAM arrived); on one the
   * client knows is closed, WINDOW_UPDATE and RST_STREAM are ignored, DATA and HEADERS are
   * STREAM_CLOSED. Streams past our final GOAWAY's last id are ignored (§6.8).
   */
  protected onPastStream(id: number, type: number): void {
    const past = this.ids.past(id);
    if (past === PAST_STREAM.IDLE || past === PAST_STREAM.UNUSED) {
      const name = Object.keys(FRAME).find((key) => FRAME[key as keyof typeof FRAME] === type);
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, `${name} on stream ${id}, which was never opened`);
    }
    if (past === PAST_STREAM.RESET || id > this.goawayLastId) return;
    if (type === FRAME.DATA || type === FRAME.HEADERS) this.resetId(id, H2_ERROR.STREAM_CLOSED);
  }

  /** The client sent END_STREAM: the body is whole, and as long as it said (§8.1.1). */
  protected remoteEnd(stream: Stream): void {
    const declared = stream.head?.contentLength ?? -1;
    if (declared >= 0 && stream.received !== declared) {
      countError(this.stats, "h2 malformed request");
      return this.reset(stream, H2_ERROR.PROTOCOL_ERROR);
    }
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_END_STREAM)!;
    stream.body?.end();
    this.updateHeld(stream);
    if (stream.state === STREAM_STATE.CLOSED) this.forget(stream);
  }

  /**
   * Reopens a stream's window by what its reader took (RFC 9113 §6.9): the window is what we
   * advertised less what waits unread, so a handler that stops reading stops the client.
   */
  protected grant(stream: Stream): void {
    this.updateHeld(stream);
    if (!remoteOpen(stream.state)) return;
    const target = STREAM_WINDOW - Math.min(stream.held, STREAM_WINDOW);
    const increment = target - stream.recvWindow;
    if (increment > 0 && (increment >= WINDOW_STEP || stream.recvWindow < WINDOW_STEP)) {
      if (stream.recvWindow <= 0) stream.bodyAt = this.now(); // the client may send again: a new wait
      stream.recvWindow += increment;
      this.controlFrame(() => this.control.windowUpdate(stream.id, increment));
    }
  }

  /** The same for the connection's window, over every stream's unread bytes. */
  protected grantConnection(): void {
    if (this.stage === "closed") return;
    const target = CONNECTION_WINDOW - Math.min(this.held, CONNECTION_WINDOW);
    const increment = target - this.connRecvWindow;
    if (increment > 0 && (increment >= WINDOW_STEP || this.connRecvWindow < WINDOW_STEP)) {
      this.connRecvWindow += increment;
      this.controlFrame(() => this.control.windowUpdate(0, increment));
    }
  }

  /** A handler began to read its body: a client that waits for 100 (Continue) is told to send. */
  streamBodyClaimed(stream: Stream): void {
    if (!stream.head?.expectContinue || stream.continued || stream.headersSent || stream.received > 0) return;
    if (!remoteOpen(stream.state)) return;
    stream.continued = true;
    const block = new FrameWriter(16);
    this.encoder.encode(block, [":status", "100"]);
    this.controlFrame(() =>
      this.control.headers(stream.id, block.bytes, block.length, false, this.peerMaxFrame)
    );
    this.later();
  }

  /** Queued body bytes were taken (or dropped): the windows may reopen. */
  streamBodyDrained(stream: Stream): void {
    if (this.stage === "closed" || !this.streams.has(stream.id)) return;
    this.grant(stream);
    this.grantConnection();
    this.later();
  }

  /** A read found the body unacceptable (its declared length passes the limit). */
  streamBodyRefused(stream: Stream, error: HttpError): void {
    countRefusal(this.stats, error.status);
    this.override(stream, error);
    this.later();
  }

  /** The body cannot go on (too large, no budget): answered in the handler's place. */
  protected refuseBody(stream: Stream, error: HttpError): void {
    countRefusal(this.stats, error.status);
    stream.body?.fail(error);
    this.override(stream, error);
  }

  /** Answers `error.status` in the handler's place, unless an answer is on its way. */
  protected override(stream: Stream, error: HttpError): void {
    this.updateHeld(stream);
    if (stream.headersSent || stream.overridden || !this.streams.has(stream.id)) return;
    if (stream.response) {
      this.releaseResponse(stream);
      stream.response = null;
      const i = this.ready.indexOf(stream);
      if (i >= 0) this.ready.splice(i, 1);
    }
    stream.overridden = true;
    this.answer(stream, statusResponse(error.status, { text: error.message }));
  }

  protected onTrailers(stream: Stream, endStream: boolean, fits: boolean): void {
    if (!remoteOpen(stream.state)) return this.reset(stream, H2_ERROR.STREAM_CLOSED); // §5.1
    try {
      // §8.1: trailers end the stream; they carry no pseudo-header fields.
      if (!endStream) throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "Trailers without END_STREAM", stream.id);
      if (fits) checkTrailers(FIELDS, stream.id);
    } catch (e) {
      if (!(e instanceof H2Error)) throw e;
      countError(this.stats, "h2 malformed request");
      return this.reset(stream, e.code);
    }
    this.remoteEnd(stream);
  }
}
