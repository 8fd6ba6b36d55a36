// A response's head as HTTP/2 fields (RFC 9113 §8.3.2): :status, Date, Server, the handler's
// fields lower-cased without HTTP/1.1's connection fields (§8.2.2), --header's, and the length;
// and what a response holds (a file, a stream) released when nobody will send it.

import { wallClock } from "../clock.ts";
import { decodeFields } from "../fields.ts";
import type { FileBody, HttpResponse } from "../types.ts";

/** RFC 9113 §8.2.2: response fields that mean something only to one HTTP/1.1 connection. */
const DROPPED_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "content-length", // the session states the length it sends
]);

/**
 * The response's fields: :status, Date, Server, the handler's (minus HTTP/1.1's), the server's
 * own (--header, pre-encoded), and the length when it is known (`length` >= 0).
 */
export function responseFields(
  response: HttpResponse,
  status: number,
  length: number,
  serverFields: Uint8Array | undefined,
): string[] {
  const fields: string[] = [":status", statusText(status), "date", httpDate(), "server", "rawserve"];
  const headers = response.headers;
  if (headers instanceof Uint8Array) pushAll(fields, encodedFields(headers));
  else if (headers) addFields(fields, headers);
  if (response.headerList) {
    for (const [name, value] of response.headerList) addField(fields, name, value);
  }
  if (serverFields) pushAll(fields, encodedFields(serverFields));
  if (length >= 0) fields.push("content-length", String(length));
  return fields;
}

export function isFileBody(body: unknown): body is FileBody {
  return typeof body === "object" && body !== null && "kind" in body && (body as FileBody).kind === "file";
}

/** Releases a response nobody will send (its stream is gone): its file or stream. */
export function releaseResponse(response: HttpResponse): void {
  const body = response.body;
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (isFileBody(body)) body.close();
}

const STATUS_TEXT: string[] = [];
function statusText(status: number): string {
  return STATUS_TEXT[status] ??= String(status);
}

let dateSecond = -1, dateText = "";
/** RFC 9110 §6.6.1's Date, made once a second. */
function httpDate(): string {
  const second = Math.floor(wallClock() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * Pre-encoded fields (encodeFields) as HTTP/2 names and values (addField's), read back and
 * filtered once per buffer (files repeat theirs).
 */
const ENCODED = new WeakMap<Uint8Array, string[]>();
function encodedFields(bytes: Uint8Array): string[] {
  let fields = ENCODED.get(bytes);
  if (!fields) {
    fields = [];
    addFields(fields, decodeFields(bytes));
    ENCODED.set(bytes, fields);
  }
  return fields;
}

function pushAll(fields: string[], more: readonly string[]): void {
  for (let i = 0; i < more.length; i++) fields.push(more[i]!);
}

function addFields(fields: string[], more: readonly string[]): void {
  for (let i = 0; i + 1 < more.length; i += 2) addField(fields, more[i]!, more[i + 1]!);
}

/** Adds a handler's field, its name lower-cased, leaving out HTTP/1.1's connection fields (RFC 9113 §8.2.2). */
function addField(fields: string[], name: string, value: string): void {
  const lower = hasUpper(name) ? name.toLowerCase() : name;
  if (DROPPED_RESPONSE_FIELDS.has(lower)) return;
  fields.push(lower, value);
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
