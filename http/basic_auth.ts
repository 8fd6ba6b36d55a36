// HTTP Basic authentication (RFC 7617) as a handler wrapper: requests to protected paths need
// `Authorization: Basic base64(user:password)` that a PasswordCheck accepts, or get 401 with the
// challenge. How a password is checked (bcrypt, its cache and its bound) is injected: this module
// sees no hash, no file and no thread. Protection is decided on the path as the site resolves it
// (decoded once, normalized), so `/%70rivate/` and `/x/../private/` are `/private/` here too.

import type { Handler, HttpRequest, HttpResponse } from "./types.ts";
import { STATUS, statusResponse } from "./status.ts";
import { normalizePath } from "./static/paths.ts";
import { globToRegExp } from "./static/cache_policy.ts";

/** What a PasswordCheck answers. */
export const VERDICT = {
  /** The user exists and the password is theirs. */
  ALLOWED: "allowed",
  /** Unknown user or wrong password (the client is not told which). */
  DENIED: "denied",
  /** Too many checks in progress: the client should retry later (503, not a verdict on it). */
  BUSY: "busy",
} as const;
export type Verdict = typeof VERDICT[keyof typeof VERDICT];

/**
 * Checks a user's password. A check that must hash (bcrypt) returns a Promise and runs off the
 * reactor's thread; one it can answer from memory may answer at once.
 */
export interface PasswordCheck {
  /**
   * @param user the user-id, decoded from UTF-8
   * @param password the password's bytes as the client sent them (UTF-8 if it honoured the
   *   challenge's charset; passed on undecoded, as htpasswd hashes bytes)
   */
  check(user: string, password: Uint8Array): Verdict | Promise<Verdict>;
}

/** Credentials from an Authorization field. */
export interface BasicCredentials {
  user: string;
  password: Uint8Array;
}

/** What withBasicAuth needs. */
export interface BasicAuthOptions {
  /** The protection space's name, shown by browsers in their prompt (RFC 7235 §2.2). */
  realm: string;
  /** Globs of paths to protect (globToRegExp's syntax); empty protects every path. */
  paths: readonly string[];
  /** Who decides whether a password is right. */
  check: PasswordCheck;
  /** Hears who was let in, before the handler runs (the access log's user). */
  onAllowed?: (request: HttpRequest, user: string) => void;
}

/** `Basic` and its token68 (RFC 7617 §2, RFC 9110 §11.4: the scheme is case-insensitive). */
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2})$/i;
/** RFC 7617 §2: user-id and password MUST NOT contain control characters (CTL, RFC 5234 B.1). */
function isControl(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f;
}
const COLON = 0x3a;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses the value of an Authorization field with the Basic scheme: strict base64 (padding as
 * RFC 4648 §4 has it, no whitespace), split at the first colon (a user-id holds none; a password
 * may), the user-id valid UTF-8, and neither holding a control character.
 * @param value the field value, or undefined when the request has none
 * @returns the credentials, or null when there are none usable (another scheme, malformed)
 */
export function parseBasicCredentials(value: string | undefined): BasicCredentials | null {
  const token = value === undefined ? undefined : BASIC.exec(value.trim())?.[1];
  if (token === undefined || token.length % 4 !== 0) return null;
  let binary: string;
  try {
    binary = atob(token);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const colon = bytes.indexOf(COLON);
  // UTF-8 never uses bytes below 0x80 within a character, so a byte test covers the user-id too.
  if (colon < 0 || bytes.some(isControl)) return null;
  let user: string;
  try {
    user = utf8.decode(bytes.subarray(0, colon));
  } catch {
    return null; // not UTF-8: no user in a UTF-8 file can have this name
  }
  const password = bytes.slice(colon + 1);
  bytes.fill(0);
  return { user, password };
}

/**
 * Which request paths need credentials.
 * @param globs globs over the resolved path (`/private/*`, `*.pdf`); empty: every path
 * @returns a test on the request's path (query included or not); a path the site would refuse
 *   (bad escape, NUL) counts as protected, so a path never slips through by failing to resolve
 */
export function protectedPaths(globs: readonly string[]): (path: string) => boolean {
  if (globs.length === 0) return () => true;
  const patterns = globs.map(globToRegExp);
  return (path) => {
    const query = path.indexOf("?");
    const resolved = normalizePath(query < 0 ? path : path.slice(0, query));
    if (resolved === null) return true;
    const base = "/" + resolved.segments.join("/");
    // Both forms: `/private` is the directory `/private/*` protects (it redirects there anyway).
    const forms = base === "/" ? ["/"] : [base, base + "/"];
    return patterns.some((pattern) => forms.some((form) => pattern.test(form)));
  };
}

/** Whether the request has more than one Authorization field (which one would count?). */
function repeatsAuthorization(request: HttpRequest): boolean {
  const fields = request.head.headers;
  let seen = 0;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === "authorization" && ++seen > 1) return true;
  return false;
}

/** A realm as a quoted-string (RFC 9110 §5.6.4). */
function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Wraps a handler with Basic authentication for the paths `options.paths` names.
 * @param handler what answers once the credentials are right
 * @param options the realm, the protected paths and the password check
 * @returns the handler that answers 401 (with the challenge) or 503 (checks busy) itself
 * @example
 * withBasicAuth(site, { realm: "docs", paths: ["/private/*"], check: { check: () => VERDICT.DENIED } })
 */
export function withBasicAuth(handler: Handler, options: BasicAuthOptions): Handler {
  const protects = protectedPaths(options.paths);
  // RFC 7617 §2.1: charset="UTF-8" asks clients to encode the user-id and password as UTF-8.
  const challenge = ["WWW-Authenticate", `Basic realm=${quoted(options.realm)}, charset="UTF-8"`];
  // Cache-Control: a 401 depends on the credentials; keep shared caches from storing it.
  const unauthorized = statusResponse(STATUS.UNAUTHORIZED, {
    headers: [...challenge, "Cache-Control", "no-store"],
  });
  const busy = statusResponse(STATUS.SERVICE_UNAVAILABLE);
  const answer = (
    request: HttpRequest,
    user: string,
    verdict: Verdict,
  ): HttpResponse | Promise<HttpResponse> => {
    if (verdict === VERDICT.BUSY) return busy;
    if (verdict !== VERDICT.ALLOWED) return unauthorized;
    options.onAllowed?.(request, user);
    return handler(request);
  };
  return (request) => {
    if (!protects(request.head.path)) return handler(request);
    const credentials = repeatsAuthorization(request)
      ? null
      : parseBasicCredentials(request.head.get("authorization"));
    if (credentials === null) return unauthorized;
    const { user, password } = credentials;
    const verdict = options.check.check(user, password);
    return verdict instanceof Promise
      ? verdict.then((v) => answer(request, user, v))
      : answer(request, user, verdict);
  };
}
