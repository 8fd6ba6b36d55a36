// One request's place in a connection's response order: its head and body, and the response
// when the handler (or the server, in its place) has given one.

import type { RequestHead } from "../request_head.ts";
import type { RequestBody } from "../request_body.ts";
import type { FramingRequest } from "./framing.ts";
import type { Body, FileBody, HttpRequest, HttpResponse } from "../types.ts";

/** One request awaiting, or holding, its response. */
export class Slot implements FramingRequest {
  response: HttpResponse | null = null;
  /** The server answered in the handler's place (its body failed): the handler's answer is dropped. */
  overridden = false;
  /** 100 (Continue) was sent for this request. */
  continued = false;
  /** What the handler was given (null for an unparsable request): its observer hears the end. */
  request: HttpRequest | null = null;
  readonly isHead: boolean;
  readonly minor: number;
  /**
   * Where its body begins and ends in the connection's output once encoded (Infinity: a stream,
   * whose end is known when it ends), for the bytes a completion reports (responses.ts).
   */
  bodyStart = 0;
  bodyEnd = 0;

  /**
   * @param head the request, or null for one that could not be parsed
   * @param body its body, or null
   * @param close the connection closes after this response
   * @param started when its head arrived, on the connection's clock (0 when nobody times responses)
   */
  constructor(
    readonly head: RequestHead | null,
    readonly body: RequestBody | null,
    public close: boolean,
    readonly started = 0,
  ) {
    this.isHead = head?.method === "HEAD";
    this.minor = head?.minor ?? 1;
  }
}

/** Whether a response body is a file range (sent with sendfile, holding a descriptor). */
export function isFileBody(body: Body | undefined): body is FileBody {
  return typeof body === "object" && body !== null && "kind" in body;
}

/** Releases the body of a response nobody counted (it came after its connection closed). */
export function releaseUntaken(response: HttpResponse): void {
  const body = response.body;
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (isFileBody(body)) body.close();
}
