// An HTTP/2 request's decoded header list made into the RequestHead every handler gets (RFC 9113
// §8.2-§8.3): pseudo-header rules, lower-case names, no connection-specific fields, :authority
// and Host, cookie crumbs joined. A malformed request is a stream error (§8.1.1); a well-formed
// one we will not serve gets a status, as over HTTP/1.1.

import { H2_ERROR, H2Error } from "./frames.ts";
import { HttpError, STATUS } from "../status.ts";
import { isValidHost, TARGET_CHAR, TCHAR, VALUE_CHAR } from "../tokens.ts";
import { METHODS, RequestHead } from "../request_head.ts";

/** RFC 9113 §8.2.2: fields that mean something only to one HTTP/1.1 connection. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
]);

function malformed(streamId: number, why: string): H2Error {
  return new H2Error(H2_ERROR.PROTOCOL_ERROR, `Malformed request: ${why}`, streamId);
}

/** RFC 9113 §8.2.1: a lower-case token. */
function isFieldName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f || TCHAR[c] !== 1 || (c >= 65 && c <= 90)) return false;
  }
  return true;
}

/** RFC 9113 §8.2.1: no NUL, CR, LF or other controls but HTAB; no space or tab at either end. */
function isFieldValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0), last = value.charCodeAt(n - 1);
  if (first === 32 || first === 9 || last === 32 || last === 9) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || VALUE_CHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Makes a request head from a decoded header list.
 * @param fields names and values, alternating, as HPACK decoded them
 * @param streamId the request's stream, for the errors
 * @returns the head (`major` 2, `minor` 0; `host` from :authority, else Host)
 * @throws {H2Error} a stream error PROTOCOL_ERROR for a malformed request (RFC 9113 §8.1.1)
 * @throws {HttpError} 400 for a bad target or authority, 501 for a method we do not know or CONNECT
 */
export function requestHeadFromFields(fields: readonly string[], streamId: number): RequestHead {
  let method = "", scheme = "", path = "", authority: string | null = null, host: string | null = null;
  let regular = false, contentLength = -1, expectContinue = false;
  const headers: string[] = [];
  let cookies: string[] | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!, value = fields[i + 1]!;
    if (name.charCodeAt(0) === 58) { // ":"
      // §8.3: pseudo-header fields come first, once each, and only the request's four.
      if (regular) throw malformed(streamId, "pseudo-header field after a regular one");
      switch (name) {
        case ":method":
          if (method !== "") throw malformed(streamId, "two :method fields");
          method = value;
          break;
        case ":scheme":
          if (scheme !== "") throw malformed(streamId, "two :scheme fields");
          scheme = value;
          break;
        case ":path":
          if (path !== "") throw malformed(streamId, "two :path fields");
          if (value === "") throw malformed(streamId, "empty :path");
          path = value;
          break;
        case ":authority":
          if (authority !== null) throw malformed(streamId, "two :authority fields");
          authority = value;
          break;
        default: // :status, :protocol (RFC 8441 is not offered) and unknown ones
          throw malformed(streamId, `pseudo-header field ${name}`);
      }
      continue;
    }
    regular = true;
    if (!isFieldName(name)) throw malformed(streamId, `field name ${JSON.stringify(name)}`);
    if (!isFieldValue(value)) throw malformed(streamId, `value of ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(streamId, `connection-specific field ${name}`);
    switch (name) {
      case "te": // §8.2.2: only "trailers"
        if (value !== "trailers") throw malformed(streamId, "TE other than trailers");
        break;
      case "cookie": // §8.2.3: crumbs are joined with "; " for HTTP/1.1's single field
        (cookies ??= []).push(value);
        continue;
      case "content-length": {
        if (!/^[0-9]{1,15}$/.test(value)) throw malformed(streamId, "Content-Length");
        const n = Number(value);
        if (contentLength >= 0 && n !== contentLength) throw malformed(streamId, "two Content-Length values");
        contentLength = n;
        break;
      }
      case "host":
        if (host !== null) throw new HttpError(STATUS.BAD_REQUEST, "Two Host fields");
        host = value;
        break;
      case "expect":
        expectContinue = value.toLowerCase() === "100-continue";
        break;
    }
    headers.push(name, value);
  }
  if (method === "") throw malformed(streamId, "no :method");
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if (c > 0x7f || TCHAR[c] !== 1) throw malformed(streamId, ":method is not a token");
  }
  if (method === "CONNECT") {
    // §8.5: CONNECT carries only :authority; rawserve is no tunnel.
    throw new HttpError(STATUS.NOT_IMPLEMENTED, "CONNECT is not supported");
  }
  if (scheme === "" || path === "") throw malformed(streamId, "no :scheme or :path");
  // §8.3.1: an origin-form path, or "*" for OPTIONS.
  if (path.charCodeAt(0) !== 47 && !(path === "*" && method === "OPTIONS")) {
    throw malformed(streamId, ":path is not a path");
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c > 0x7f || TARGET_CHAR[c] !== 1) throw new HttpError(STATUS.BAD_REQUEST, "Invalid request target");
  }
  if (!METHODS.has(method)) throw new HttpError(STATUS.NOT_IMPLEMENTED, "Not Implemented");
  // §8.3.1: Host, when sent beside :authority, names the same origin.
  if (authority !== null && host !== null && authority !== host) {
    throw malformed(streamId, "Host differs from :authority");
  }
  const origin = authority ?? host ?? "";
  if (origin !== "" && !isValidHost(origin)) throw new HttpError(STATUS.BAD_REQUEST, "Invalid :authority");
  if (cookies !== null) headers.push("cookie", cookies.join("; "));
  if (host === null && authority !== null) headers.push("host", authority); // as HTTP/1.1 handlers see it
  const head = new RequestHead();
  head.method = method;
  head.target = path;
  head.path = path;
  head.major = 2;
  head.minor = 0;
  head.headers = headers;
  head.host = origin;
  head.contentLength = contentLength;
  head.chunked = false;
  head.keepAlive = true;
  head.expectContinue = expectContinue;
  return head;
}

/**
 * RFC 9113 §8.1: trailers carry no pseudo-header fields, and follow the field rules.
 * @throws {H2Error} a stream error PROTOCOL_ERROR
 */
export function checkTrailers(fields: readonly string[], streamId: number): void {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 58) throw malformed(streamId, "pseudo-header field in trailers");
    if (!isFieldName(name)) throw malformed(streamId, `trailer name ${JSON.stringify(name)}`);
    if (!isFieldValue(fields[i + 1]!)) throw malformed(streamId, `value of trailer ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(streamId, `connection-specific trailer ${name}`);
  }
}
