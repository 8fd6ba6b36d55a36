// Web Requests for the requests the engine parses. Each is a real Request (instanceof, brand
// checks, clone(), the body mixins). Without a body it is made lazily as Deno.serve makes its
// own: a branded Request over an inner request whose URL and Headers exist only once read
// (58 ns against 2.2 µs for `new Request(url, { method, headers })`, measured 2026-11-25). With
// a body, the public constructor over a stream that reads the connection with back-pressure; a
// body read whole (arrayBuffer(), text(), json() ...) gathers on the connection's side, within
// the server's budget for body bytes, and reaches Deno's reader as one chunk.

import { SYMBOLS } from "./internals.ts";
import type { HandlerInfo } from "./info.ts";
import type { RequestHead } from "../../http/request_head.ts";
import type { RequestBody } from "../../http/request_body.ts";
import type { HttpRequest } from "../../http/types.ts";
import type { ForwardedRequest } from "../transport/forwarded.ts";

/** Where request URLs point: the scheme, and the authority for requests that carry none. */
export interface Origin {
  scheme: "http" | "https";
  /** `host[:port]` of the listener, for HTTP/1.0 requests without Host. */
  fallbackHost: string;
}

/**
 * The origin of one request's URL: the server's, unless a trusted proxy named another scheme.
 * @returns `origin` itself (nothing allocated) when no proxy named one or it is the same
 */
export function requestOrigin(http: HttpRequest, origin: Origin): Origin {
  const scheme = (http as ForwardedRequest).forwardedScheme;
  return scheme === undefined || scheme === origin.scheme
    ? origin
    : { scheme, fallbackHost: origin.fallbackHost };
}

/** The absolute URL of a request (RFC 9112 §3.3): scheme, Host (or the target's authority), path. */
export function requestUrl(head: RequestHead, origin: Origin): string {
  const host = head.host === "" ? origin.fallbackHost : head.host;
  // Asterisk-form (OPTIONS *) and authority-form (CONNECT) have no path: the URL is the origin's.
  const path = head.path.charCodeAt(0) === 47 ? head.path : "/";
  return `${origin.scheme}://${host}${path}`;
}

/** The header list a Headers object is made from: [name, value] pairs, names in lower case. */
function headerPairs(head: RequestHead): [string, string][] {
  const flat = head.headers;
  const pairs: [string, string][] = new Array(flat.length >> 1);
  for (let i = 0; i < flat.length; i += 2) pairs[i >> 1] = [flat[i]!, flat[i + 1]!];
  return pairs;
}

/**
 * Deno's inner request, as its Request methods expect it (ext/fetch/23_request.js: method, URL
 * list, header list, body, redirect fields). A class, so the accessors live on the prototype:
 * an object literal with accessors costs ~800 ns to create, this ~20.
 */
class InnerRequest {
  methodInner: string;
  headerListInner: [string, string][] | null = null;
  body = null;
  redirectMode = "follow";
  redirectCount = 0;
  urlListProcessed: string[] = [];
  clientRid = null;
  blobUrlEntry = null;
  #head: RequestHead;
  #origin: Origin;

  constructor(head: RequestHead, origin: Origin) {
    this.methodInner = head.method;
    this.#head = head;
    this.#origin = origin;
  }
  /** Deno reads it when the request is passed on to fetch(): made only then. */
  get urlList(): (() => string)[] {
    return [() => this.url()];
  }
  get method(): string {
    return this.methodInner;
  }
  set method(value: string) {
    this.methodInner = value;
  }
  get headerList(): [string, string][] {
    return this.headerListInner ??= headerPairs(this.#head);
  }
  set headerList(value: [string, string][]) {
    this.headerListInner = value;
  }
  url(): string {
    return this.urlListProcessed[0] ??= requestUrl(this.#head, this.#origin);
  }
  currentUrl(): string {
    return this.url();
  }
}

/** What the fast constructor needs to reach Deno's private fields. */
const FAST = SYMBOLS.request;
const FAST_HEADERS = SYMBOLS.headers;

/**
 * A request's Headers from its header list, as Deno.serve makes them: immutable, and without
 * validating again what the parser validated byte by byte (36 ns against 470 for
 * `new Headers(pairs)`), when headersWork() said so.
 */
function makeHeaders(pairs: [string, string][]): Headers {
  if (!FAST_HEADERS || !HEADERS_WORK) return new Headers(pairs);
  const headers = new (Headers as unknown as new (brand: symbol) => Headers)(FAST_HEADERS.brand);
  const fields = headers as unknown as Record<symbol, unknown>;
  fields[FAST_HEADERS.list] = pairs;
  fields[FAST_HEADERS.guard] = "immutable";
  return headers;
}

/** Whether branded Headers behave as public ones on this Deno (read access). */
function headersWork(): boolean {
  if (!FAST_HEADERS) return false;
  try {
    const pairs: [string, string][] = [["x-b", "2"], ["host", "h"], ["set-cookie", "a=1"], [
      "set-cookie",
      "b=2",
    ], ["x-b", "3"]];
    const fast = new (Headers as unknown as new (brand: symbol) => Headers)(FAST_HEADERS.brand);
    const fields = fast as unknown as Record<symbol, unknown>;
    fields[FAST_HEADERS.list] = pairs;
    fields[FAST_HEADERS.guard] = "immutable";
    const plain = new Headers(pairs);
    const view = (h: Headers) =>
      JSON.stringify([[...h], h.get("X-B"), h.has("HOST"), h.getSetCookie(), h.get("none")]);
    let immutable = false;
    try {
      fast.set("x", "y");
    } catch {
      immutable = true;
    }
    return view(fast) === view(plain) && immutable;
  } catch {
    return false;
  }
}
const HEADERS_WORK = headersWork();

/** Where a lazy request keeps its handler info (a symbol: lazy requests are made without a constructor). */
const INFO = Symbol("rawserve handler info");

/** A request without a body, made lazily (see the file's head and lazyRequest()). */
class LazyRequest extends Request {
  /** Aborts when the client leaves before the response is written (made on first read). */
  override get signal(): AbortSignal {
    return (this as unknown as { [INFO]: HandlerInfo })[INFO].signal();
  }
}

/**
 * A lazy request made as Deno.serve makes its own (webidl's createBranded): an object of
 * LazyRequest's prototype given the brand and the inner request, without running the Request
 * constructor through a derived class (construct stubs and field initializers: ~0.1 µs a
 * request in `perf record` of app-hello, 2026-12-06).
 */
function lazyRequest(head: RequestHead, origin: Origin, info: HandlerInfo): Request {
  const request = Object.create(LAZY_PROTOTYPE) as Record<symbol, unknown>;
  const inner = new InnerRequest(head, origin);
  request[BRAND] = BRAND;
  request[INNER] = inner;
  request[GET_HEADERS] = () => makeHeaders(inner.headerList); // Deno calls it without `this`
  request[INFO] = info;
  return request as unknown as Request;
}
const LAZY_PROTOTYPE = LazyRequest.prototype;
const BRAND = FAST?.brand ?? Symbol("unused");
const INNER = FAST?.inner ?? Symbol("unused");
const GET_HEADERS = FAST?.getHeaders ?? Symbol("unused");

/** Headers whose changes throw, as a server's request headers do, for the public path. */
class ReadOnlyHeaders extends Headers {
  override append(): void {
    throw new TypeError("A request's headers are immutable");
  }
  override set(): void {
    throw new TypeError("A request's headers are immutable");
  }
  override delete(): void {
    throw new TypeError("A request's headers are immutable");
  }
}

/** A request's Headers made immutable: the guard set where Deno's fields allow, else a read-only copy. */
function immutable(headers: Headers): Headers {
  if (!FAST_HEADERS || !HEADERS_WORK) return new ReadOnlyHeaders(headers);
  (headers as unknown as Record<symbol, unknown>)[FAST_HEADERS.guard] = "immutable";
  return headers;
}

/** A request made with the public constructor: one with a body, or any when the fast path is off. */
class PublicRequest extends Request {
  #info: HandlerInfo;
  #source: BodySource | null;
  #stream: ReadableStream<Uint8Array> | null;
  #headers: Headers | null = null;

  constructor(url: string, init: RequestInit, info: HandlerInfo, source: BodySource | null) {
    super(url, init);
    this.#info = info;
    this.#source = source;
    this.#stream = (init.body as ReadableStream<Uint8Array> | undefined) ?? null;
  }

  override get signal(): AbortSignal {
    return this.#info.signal();
  }

  override get headers(): Headers {
    return this.#headers ??= immutable(super.headers);
  }

  /**
   * Reading `body` claims it: a response made from it (a stream that echoes the upload) may
   * read it after the handler returns, so the connection must not drop it then.
   */
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    this.#source?.body.claim();
    return super.body;
  }

  /**
   * Before Deno reads the body whole: when the stream is still ours and untouched (not read,
   * locked or cloned), its first pull gathers the whole body on the connection's side, where
   * the server's budget bounds it (503 beyond), instead of Deno holding chunk after chunk.
   */
  #readingWhole(): void {
    const source = this.#source;
    if (source === null || source.whole || this.bodyUsed) return;
    const stream = super.body;
    if (stream === null || stream !== this.#stream || stream.locked) return;
    source.whole = true;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    this.#readingWhole();
    return super.arrayBuffer();
  }

  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    this.#readingWhole();
    return super.bytes();
  }

  override text(): Promise<string> {
    this.#readingWhole();
    return super.text();
  }

  override json(): Promise<unknown> {
    this.#readingWhole();
    return super.json();
  }

  override blob(): Promise<Blob> {
    this.#readingWhole();
    return super.blob();
  }

  override formData(): Promise<FormData> {
    this.#readingWhole();
    return super.formData();
  }
}

/**
 * The request body as a web stream's source: it pulls from the connection only when read, so
 * the connection stops reading the socket while the consumer does not keep up (back-pressure).
 * With `whole` set before the first read, the first pull is the whole body as one chunk,
 * gathered within the server's budget (RequestBody.bytes).
 */
class BodySource implements UnderlyingDefaultSource<Uint8Array> {
  whole = false;

  constructor(readonly body: RequestBody) {}

  pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.whole) {
      return this.body.bytes().then(
        (bytes) => {
          if (bytes.length > 0) controller.enqueue(bytes);
          controller.close();
        },
        (error) => controller.error(error),
      );
    }
    return this.body.read().then(
      (chunk) => chunk === null ? controller.close() : controller.enqueue(chunk),
      (error) => controller.error(error),
    );
  }

  cancel(): void {
    this.body.cancel();
  }
}

/** Whether lazy requests work on this Deno: checked once against the public constructor. */
function lazyRequestsWork(): boolean {
  if (!FAST) return false;
  try {
    const head = {
      method: "GET",
      host: "example.test:8080",
      path: "/a/b?c=1",
      headers: ["host", "example.test:8080", "x-a", "1", "x-a", "2", "accept", "*/*"],
    } as unknown as RequestHead;
    const origin: Origin = { scheme: "http", fallbackHost: "" };
    const info = { signal: () => new AbortController().signal } as unknown as HandlerInfo;
    const lazy = lazyRequest(head, origin, info);
    const plain = new Request(requestUrl(head, origin), { method: "GET", headers: headerPairs(head) });
    const same = (a: Request) =>
      JSON.stringify([a.method, a.url, [...a.headers], a.bodyUsed, a.redirect, a.headers.get("x-a")]);
    return lazy instanceof Request && same(lazy) === same(plain) && same(lazy.clone()) === same(plain) &&
      lazy.body === null;
  } catch {
    return false;
  }
}

/** Lazy requests are used only when the self-test passed. */
export const LAZY_REQUESTS: boolean = lazyRequestsWork();

/**
 * The web Request for an engine request.
 * @param head the parsed head
 * @param body its body, or null
 * @param options the origin for the URL, and the handler info whose signal the request shares
 */
export function webRequest(
  head: RequestHead,
  body: RequestBody | null,
  options: { origin: Origin; info: HandlerInfo },
): Request {
  if (body === null && LAZY_REQUESTS) return lazyRequest(head, options.origin, options.info);
  const init: RequestInit & { duplex?: "half" } = { method: head.method, headers: headerPairs(head) };
  // GET and HEAD may not carry a body in a web Request; one sent anyway is dropped unread.
  const withBody = body !== null && head.method !== "GET" && head.method !== "HEAD";
  const source = withBody ? new BodySource(body) : null;
  if (source !== null) {
    init.body = new ReadableStream<Uint8Array>(source, { highWaterMark: 0 });
    init.duplex = "half";
  }
  return new PublicRequest(requestUrl(head, options.origin), init, options.info, source);
}
