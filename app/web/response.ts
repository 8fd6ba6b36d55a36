// Web Responses as the engine sends them. A simple one (status 200, a string or bytes body, at
// most a Content-Type) is read from the fields Deno keeps for Deno.serve (35 ns, measured
// 2026-11-25); others through the public API (~0.7 µs for the headers), with a static body
// (string, bytes, JSON, URLSearchParams) taken from the inner response instead of a stream, so it
// gets a Content-Length; a stream is sent as it comes (chunked, or with the length of a Blob).

import { SYMBOLS } from "./internals.ts";
import type { HttpResponse } from "../../http/types.ts";
import { encodeFields } from "../../http/fields.ts";

/**
 * Fields the engine decides (framing and the connection, RFC 9112 §6-§9) or always sends (Date):
 * a response's own would contradict them, so they are dropped.
 */
const ENGINE_FIELDS: ReadonlySet<string> = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "date",
]);

/**
 * The Response class, read once: the global is an accessor (Deno defines its web classes lazily),
 * so `instanceof Response` would call a getter on every request.
 */
export const WebResponse: typeof Response = Response;

/** The fields of simple responses are encoded once (the engine copies bytes instead of strings). */
const TEXT_PLAIN = encodeFields(["Content-Type", "text/plain;charset=UTF-8"]);

type Fields = Record<symbol, unknown>;

/** The inner response's parts rawserve reads (ext/fetch/23_response.js). */
interface InnerResponse {
  body: null | { streamOrStatic?: { body?: unknown; consumed?: boolean }; length?: number | null };
}

/** Content-Type fields by value, encoded once each: simple responses repeat a handful of types. */
const TYPE_FIELDS = new Map<string, Uint8Array>();

function typeField(type: string): Uint8Array {
  let field = TYPE_FIELDS.get(type);
  if (!field) {
    field = encodeFields(["Content-Type", type]); // throws for a value that would split the head
    if (TYPE_FIELDS.size < 64) TYPE_FIELDS.set(type, field);
  }
  return field;
}

/** A simple response from Deno's serve-fast fields, or null when it is not one. */
function fastResponse(response: Response): HttpResponse | null {
  const f = SYMBOLS.response!;
  const fields = response as unknown as Fields;
  const status = fields[f.fastStatus] as number;
  if (!status) return null;
  if (fields[f.fastConsumed]) {
    throw new TypeError("The response's body was used already (a Response is sent once)");
  }
  fields[f.fastConsumed] = true;
  const kind = fields[f.fastHeaderKind] as number;
  const body = fields[f.fastBody] as string | Uint8Array;
  if (kind === 0) return { status, body };
  return { status, headers: kind === 1 ? TEXT_PLAIN : typeField(fields[f.fastContentType] as string), body };
}

/** Any response, through the public API (and the inner response's static body, when known). */
function generalResponse(response: Response, inner: boolean): HttpResponse {
  const status = response.status;
  if (status === 0) throw new TypeError("A network error (Response.error()) cannot be sent");
  if (status === 101) throw new TypeError("Protocol upgrades (101) are not supported yet");
  const headerList: [string, string][] = [];
  for (const field of response.headers) if (!ENGINE_FIELDS.has(field[0])) headerList.push(field);
  // Reading the headers has made a lazy static body concrete on the inner response.
  const innerBody = inner
    ? ((response as unknown as Fields)[SYMBOLS.response!.inner] as InnerResponse).body
    : null;
  const staticBody = innerBody?.streamOrStatic?.body;
  if (typeof staticBody === "string" || staticBody instanceof Uint8Array) {
    if (response.bodyUsed || innerBody!.streamOrStatic!.consumed) {
      throw new TypeError("The response's body was used already (a Response is sent once)");
    }
    innerBody!.streamOrStatic!.consumed = true;
    return { status, headerList, body: staticBody };
  }
  const body = response.body;
  if (body === null) return { status, headerList, body: null };
  if (response.bodyUsed || body.locked) throw new TypeError("The response's body was used already");
  const length = innerBody?.length;
  return typeof length === "number"
    ? { status, headerList, body, contentLength: length }
    : { status, headerList, body };
}

/** Reads the body an engine response will carry, for the self-test. */
async function engineBytes(response: HttpResponse): Promise<string> {
  const body = response.body;
  if (body === null || body === undefined) return "";
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return new TextDecoder().decode(body);
  if (body instanceof ReadableStream) return await new Response(body).text();
  return "(file)";
}

/** The fields an engine response will carry, lower-cased, in order, for the self-test. */
function engineFields(response: HttpResponse): string {
  const h = response.headers;
  const fields: string[] = [];
  if (h instanceof Uint8Array) {
    for (const line of new TextDecoder().decode(h).split("\r\n").filter(Boolean)) {
      const colon = line.indexOf(": ");
      fields.push(`${line.slice(0, colon).toLowerCase()}: ${line.slice(colon + 2)}`);
    }
  } else for (let i = 0; h && i < h.length; i += 2) fields.push(`${h[i]!.toLowerCase()}: ${h[i + 1]}`);
  for (const [name, value] of response.headerList ?? []) fields.push(`${name}: ${value}`);
  return fields.join("\n");
}

/** Which of Deno's private response paths agree with the public API on this Deno. */
async function privatePathsWork(): Promise<{ fast: boolean; inner: boolean }> {
  if (!SYMBOLS.response) return { fast: false, inner: false };
  const samples = [
    () => new Response("Hello, World!"),
    () => new Response(new TextEncoder().encode("bytes")),
    () => Response.json({ a: [1, "two"] }),
    () => new Response("<p>x</p>", { status: 201, headers: { "content-type": "text/html", "x-a": "1" } }),
    () => new Response(new URLSearchParams({ q: "a b" })),
    () => new Response(new Blob(["blob body"], { type: "text/x-blob" })),
    () => new Response(null, { status: 204, headers: { "set-cookie": "a=1" } }),
  ];
  const verdict = { fast: true, inner: true };
  for (const make of samples) {
    const expected = make();
    const want = [
      expected.status,
      [...expected.headers].filter(([n]) => !ENGINE_FIELDS.has(n)).map(([n, v]) => `${n}: ${v}`).join("\n"),
      await expected.text(),
    ];
    try {
      const fast = fastResponse(make());
      if (fast) {
        verdict.fast &&=
          JSON.stringify([fast.status, engineFields(fast), await engineBytes(fast)]) === JSON.stringify(want);
      }
      const general = generalResponse(make(), true);
      verdict.inner &&=
        JSON.stringify([general.status, engineFields(general), await engineBytes(general)]) ===
          JSON.stringify(want);
    } catch {
      return { fast: false, inner: false };
    }
  }
  return verdict;
}

/** The private paths used, each only after its self-test passed. */
export const PRIVATE_RESPONSE_PATHS: { fast: boolean; inner: boolean } = await privatePathsWork();

/**
 * The engine response for a web Response.
 * @throws {TypeError} for something that is not a Response, a network error, an upgrade, or a
 *   body used already
 */
export function engineResponse(response: unknown): HttpResponse {
  if (!(response instanceof WebResponse)) {
    throw new TypeError(
      `The handler must return a Response, not ${Object.prototype.toString.call(response)}`,
    );
  }
  if (PRIVATE_RESPONSE_PATHS.fast) {
    const fast = fastResponse(response);
    if (fast) return fast;
  }
  return generalResponse(response, PRIVATE_RESPONSE_PATHS.inner);
}
