// The frames an HTTP/2 client sends, acted on as they are parsed: the preface, SETTINGS, PING,
// WINDOW_UPDATE, RST_STREAM, GOAWAY, and header blocks (HEADERS and CONTINUATION, RFC 9113 §4.3)
// that open streams and call handlers or end requests with trailers. Every kind a peer can send
// cheaply is counted per interval (FLOOD_LIMITS); a header block is bounded in octets and frames.

import {
  CLIENT_PREFACE,
  FLAG,
  forEachSetting,
  FRAME,
  type Frame,
  FRAME_HEADER_BYTES,
  FrameWriter,
  H2_ERROR,
  H2Error,
  INCOMPLETE,
  MAX_WINDOW,
  parseFrame,
  SETTING,
} from "./frames.ts";
import { HpackError } from "./hpack_tables.ts";
import { requestHeadFromFields } from "./semantics.ts";
import { nextState, STREAM_EVENT, STREAM_STATE } from "./stream_states.ts";
import {
  MAX_CONCURRENT_STREAMS,
  MAX_CONTINUATION_FRAMES,
  MAX_FRAME_SIZE,
  MAX_HEADER_BLOCK_BYTES,
  MAX_HEADER_LIST_BYTES,
  MAX_STREAM_ID,
  READ_BYTES,
} from "./options.ts";
import { countRefusal } from "./session_state.ts";
import { FIELDS, SessionIntake } from "./session_intake.ts";
import { Stream } from "./stream.ts";
import { PAST_STREAM } from "./stream_ids.ts";
import type { RequestHead } from "../request_head.ts";
import { RequestBody } from "../request_body.ts";
import { HttpError, STATUS, statusResponse } from "../status.ts";
import { countError } from "../stats.ts";

/** One read buffer for every session: a partial frame is copied out and back (at most one frame). */
export const READ_BUF = new Uint8Array(READ_BYTES + FRAME_HEADER_BYTES + MAX_FRAME_SIZE);
/** The opaque data of the PING that times a graceful drain (RFC 9113 §6.8). */
const DRAIN_PING = new Uint8Array([0x72, 0x61, 0x77, 0x64, 0x72, 0x61, 0x69, 0x6e]); // "rawdrain"

function isDrainPing(buf: Uint8Array, start: number): boolean {
  for (let i = 0; i < 8; i++) if (buf[start + i] !== DRAIN_PING[i]) return false;
  return true;
}

/** The frame dispatch (the fourth layer of Http2Session). */
export abstract class SessionFrames extends SessionIntake {
  /** A connection error: GOAWAY with its code, then close (RFC 9113 §5.4.1). */
  protected abstract fail(e: H2Error): void;

  protected consumeLeftover(): void {
    const kept = this.leftover!;
    this.leftover = null;
    if (kept.length > READ_BUF.length) {
      return this.fail(new H2Error(H2_ERROR.PROTOCOL_ERROR, "Too many early bytes"));
    }
    READ_BUF.set(kept);
    this.consume(READ_BUF, kept.length);
  }

  /** Acts on every complete frame in `buf[0, end)`; keeps a partial one. */
  protected consume(buf: Uint8Array, end: number): void {
    let p = 0;
    this.consuming = true;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(end, CLIENT_PREFACE.length);
        for (let i = 0; i < n; i++) {
          if (buf[i] !== CLIENT_PREFACE[i]) {
            throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "Invalid connection preface");
          }
        }
        if (end < CLIENT_PREFACE.length) {
          this.leftover = buf.slice(0, end);
          return;
        }
        this.prefaceSeen = true;
        p = CLIENT_PREFACE.length;
      }
      const frame = this.frame;
      while (p < end && this.stage !== "closed") {
        const n = parseFrame(buf, p, end, MAX_FRAME_SIZE, frame);
        if (n === INCOMPLETE) break;
        this.onFrame(buf, frame);
        this.checkCalm(); // a flood ends the connection at the frame that passed its limit
        p += n;
      }
      if (p < end && this.stage !== "closed") this.leftover = buf.slice(p, end);
      this.grantConnection();
    } catch (e) {
      if (e instanceof H2Error) return this.fail(e);
      if (e instanceof HpackError) return this.fail(new H2Error(H2_ERROR.COMPRESSION_ERROR, e.message));
      throw e;
    } finally {
      this.consuming = false;
    }
  }

  protected onFrame(buf: Uint8Array, f: Frame): void {
    // RFC 9113 §3.4: the client's preface ends with a SETTINGS frame.
    if (!this.settingsSeen && f.type !== FRAME.SETTINGS) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "The first frame is not SETTINGS");
    }
    // §6.10: a header block's frames are contiguous.
    if (this.blockStream !== 0 && f.type !== FRAME.CONTINUATION) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "A frame inside a header block");
    }
    switch (f.type) {
      case FRAME.DATA:
        return this.onData(buf, f);
      case FRAME.HEADERS:
        return this.onHeaders(buf, f);
      case FRAME.PRIORITY: // §5.3.2: accepted and ignored, but a stream error stays one
        this.flood("priority");
        if (f.streamError >= 0) this.resetId(f.streamId, f.streamError);
        return;
      case FRAME.RST_STREAM:
        return this.onReset(f);
      case FRAME.SETTINGS:
        return this.onSettings(buf, f);
      case FRAME.PUSH_PROMISE: // §8.4: a client cannot push
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FRAME.PING:
        this.flood("ping");
        if (!f.has(FLAG.ACK)) return this.controlFrame(() => this.control.ping(true, buf, f.start));
        if (this.drainStep === 1 && isDrainPing(buf, f.start)) this.finishDrainGoaway();
        return;
      case FRAME.GOAWAY:
        this.peerGoaway = true;
        return;
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(f);
      case FRAME.CONTINUATION:
        return this.onContinuation(buf, f);
      default: // §5.5: unknown frame types are ignored
        return;
    }
  }

  protected onSettings(buf: Uint8Array, f: Frame): void {
    this.flood("settings");
    if (f.has(FLAG.ACK)) return; // our settings took effect; nothing waits for it
    this.settingsSeen = true;
    let initialWindow = -1;
    forEachSetting(buf, f, (id, value) => {
      switch (id) {
        case SETTING.HEADER_TABLE_SIZE:
          this.encoder.setPeerLimit(value);
          break;
        case SETTING.INITIAL_WINDOW_SIZE: // applied once, below: a frame may repeat it 2,730 times
          initialWindow = value;
          break;
        case SETTING.MAX_FRAME_SIZE:
          this.peerMaxFrame = value;
          break;
      }
    });
    if (initialWindow >= 0) this.setInitialWindow(initialWindow);
    this.controlFrame(() => this.control.settingsAck());
  }

  /**
   * §6.9.2: every stream's send window moves by the difference. Only a frame's last value is
   * applied: the values between leave the windows where the last one puts them, so one pass over
   * the streams per frame (not per parameter) gives the same windows.
   */
  protected setInitialWindow(value: number): void {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const stream of this.streams.values()) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW) {
        throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "A window passed 2^31-1");
      }
    }
  }

  protected onWindowUpdate(f: Frame): void {
    this.flood("windowUpdate");
    if (f.streamId === 0) {
      this.connSendWindow += f.increment;
      if (this.connSendWindow > MAX_WINDOW) {
        throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "The connection window passed 2^31-1");
      }
      return;
    }
    const stream = this.streams.get(f.streamId);
    if (!stream) return this.onPastStream(f.streamId, FRAME.WINDOW_UPDATE);
    if (f.streamError >= 0) return this.reset(stream, f.streamError);
    stream.sendWindow += f.increment;
    if (stream.sendWindow > MAX_WINDOW) this.reset(stream, H2_ERROR.FLOW_CONTROL_ERROR);
  }

  protected onReset(f: Frame): void {
    const stream = this.streams.get(f.streamId);
    if (!stream) return this.onPastStream(f.streamId, FRAME.RST_STREAM);
    // CVE-2023-44487: a stream opened and cancelled before its answer ended costs us a handler call.
    this.endedEarly(stream);
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_RST_STREAM) ?? STREAM_STATE.CLOSED;
    this.release(stream);
  }

  protected onHeaders(buf: Uint8Array, f: Frame): void {
    const id = f.streamId;
    if (!this.streams.has(id)) {
      // §5.1.1: a client opens odd streams, each above the last.
      if (id % 2 === 0) throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "An even stream id");
    }
    this.blockStream = id;
    this.blockEndStream = f.has(FLAG.END_STREAM);
    this.blockDependency = f.dependency;
    this.blockFrames = 0;
    if (f.has(FLAG.END_HEADERS)) return this.onHeaderBlock(buf, f.start, f.end);
    this.appendBlock(buf, f);
  }

  protected onContinuation(buf: Uint8Array, f: Frame): void {
    if (this.blockStream === 0 || f.streamId !== this.blockStream) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "CONTINUATION outside a header block");
    }
    if (++this.blockFrames > MAX_CONTINUATION_FRAMES) {
      countError(this.stats, "h2 continuation flood");
      throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, "Too many CONTINUATION frames");
    }
    this.appendBlock(buf, f);
    if (!f.has(FLAG.END_HEADERS)) return;
    const block = this.block!;
    this.onHeaderBlock(block.bytes, 0, block.length);
    block.length = 0;
    if (block.bytes.length > 4096) this.block = null; // a large block's buffer is not kept
  }

  protected appendBlock(buf: Uint8Array, f: Frame): void {
    const block = this.block ??= new FrameWriter(1024);
    if (block.length + (f.end - f.start) > MAX_HEADER_BLOCK_BYTES) {
      countError(this.stats, "h2 header block too large");
      throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, "Header block too large");
    }
    block.append(buf, f.start, f.end);
  }

  /** A complete header block: a new request, or trailers. */
  protected onHeaderBlock(buf: Uint8Array, start: number, end: number): void {
    const id = this.blockStream, endStream = this.blockEndStream;
    this.blockStream = 0;
    FIELDS.length = 0;
    // The block is decoded whatever happens to its stream: the HPACK table must stay in step.
    const fits = this.decoder.decode(buf, start, end, FIELDS, MAX_HEADER_LIST_BYTES);
    const existing = this.streams.get(id);
    if (existing) return this.onTrailers(existing, endStream, fits);
    if (id <= this.ids.last) {
      // §5.1.1: a new stream's id is above every one the client opened before.
      if (this.ids.past(id) === PAST_STREAM.UNUSED) {
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, `Stream ${id} opened after stream ${this.ids.last}`);
      }
      return this.onPastStream(id, FRAME.HEADERS); // trailers of a stream that ended
    }
    this.ids.open(id);
    if (id > this.goawayLastId) return; // §6.8: ignored after the final GOAWAY
    if (this.blockDependency === id) return this.resetId(id, H2_ERROR.PROTOCOL_ERROR); // §5.3.1
    // A stream reset while its handler runs keeps its slot until the handler settles.
    if (this.streams.size + this.orphans >= MAX_CONCURRENT_STREAMS || this.peerGoaway) {
      countError(this.stats, "h2 refused stream");
      this.flood("refused");
      return this.resetId(id, H2_ERROR.REFUSED_STREAM);
    }
    const stream = new Stream(id, this, this.peerInitialWindow);
    stream.bodyAt = this.now();
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_HEADERS)!;
    if (endStream) stream.state = nextState(stream.state, STREAM_EVENT.RECV_END_STREAM)!;
    this.streams.set(id, stream);
    this.requestCount++;
    this.stats.requests++;
    stream.started = this.options.onComplete ? this.options.now?.() ?? performance.now() : 0;
    if (!fits) {
      countError(this.stats, "http 431");
      return this.answer(stream, statusResponse(STATUS.REQUEST_HEADER_FIELDS_TOO_LARGE));
    }
    let head: RequestHead;
    try {
      head = requestHeadFromFields(FIELDS, id);
    } catch (e) {
      if (e instanceof H2Error) {
        countError(this.stats, "h2 malformed request");
        return this.reset(stream, e.code);
      }
      if (!(e instanceof HttpError)) throw e;
      countRefusal(this.stats, e.status);
      return this.answer(stream, statusResponse(e.status, { text: e.message }));
    }
    stream.head = head;
    if (!endStream) {
      stream.body = new RequestBody(
        head.contentLength,
        this.options.maxBodyBytes,
        this.options.bodyBudget,
        stream,
      );
    } else if (head.contentLength > 0) { // §8.1.1: Content-Length against the DATA that came (none)
      countError(this.stats, "h2 malformed request");
      return this.reset(stream, H2_ERROR.PROTOCOL_ERROR);
    }
    this.callHandler(stream, head);
  }

  /** Begins a graceful drain (RFC 9113 §6.8): GOAWAY admitting every stream, then a PING. */
  protected startDrain(): void {
    if (this.drainStep !== 0 || this.stage === "closed") return;
    this.drainStep = 1;
    this.control.goaway(MAX_STREAM_ID, H2_ERROR.NO_ERROR);
    this.control.ping(false, DRAIN_PING, 0);
  }

  /** The drain's PING came back: streams the client opened meanwhile are known; the final GOAWAY. */
  protected finishDrainGoaway(): void {
    this.drainStep = 2;
    this.goawayLastId = this.ids.last;
    this.controlFrame(() => this.control.goaway(this.goawayLastId, H2_ERROR.NO_ERROR));
  }
}
