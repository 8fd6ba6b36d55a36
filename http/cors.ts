// Cross-origin access to a site (the Fetch standard's CORS protocol, §3.2): a handler wrapper
// that adds Access-Control-Allow-Origin for the origins allowed (`*`, or the request's origin
// echoed with Vary: Origin) and answers preflight requests itself. Requests from other origins
// get their usual answers, without an allow field, so the browser keeps them from the page.

import type { Handler, HttpRequest, HttpResponse } from "./types.ts";
import { STATUS } from "./status.ts";

/**
 * How long a browser may reuse a preflight's answer, in seconds. A site's files and methods do
 * not change while it runs; browsers cap it anyway (Firefox at 24 h, Chromium at 2 h).
 */
export const PREFLIGHT_MAX_AGE_S = 86_400;
/** What a site answers to: the methods a preflight is told about. */
const METHODS = "GET, HEAD";
/**
 * Response fields a cross-origin script may read beyond the CORS-safelisted ones: what reading a
 * file in ranges needs (Accept-Ranges, Content-Range: PDF.js, media players), its coding and ETag.
 */
const EXPOSE = "Accept-Ranges, Content-Range, Content-Encoding, ETag";
/** `#token` (RFC 9110 §5.6.1): the Access-Control-Request-Headers value a preflight may echo. */
const TOKEN_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

type Pairs = readonly (readonly [string, string])[];

const ANY: Pairs = [["Access-Control-Allow-Origin", "*"], ["Access-Control-Expose-Headers", EXPOSE]];
const VARY_ORIGIN: Pairs = [["Vary", "Origin"]];

/**
 * An origin as browsers serialize it in `Origin` (scheme, host and port; lower case; no default
 * port), from what a user wrote: `https://App.Example.com:443/` is `https://app.example.com`.
 * @returns the origin, or null for what is not one (a path, a query, credentials, another scheme)
 */
export function serializeOrigin(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const bare = (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash && !url.username &&
    !url.password;
  return bare && (url.protocol === "http:" || url.protocol === "https:") ? url.origin : null;
}

/** Adds fields to a response (as a new response: a handler's may be shared). */
function withFields(response: HttpResponse, pairs: Pairs): HttpResponse {
  const headerList = response.headerList ? [...response.headerList, ...pairs] : pairs;
  return { ...response, headerList };
}

/**
 * Wraps a handler with CORS for `origins`.
 * @param handler the site's handler (GET and HEAD)
 * @param origins serialized origins (`https://example.com`, as browsers send them), or `*` alone
 * @returns the handler that adds the fields and answers preflights
 */
export function withCors(handler: Handler, origins: readonly string[]): Handler {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const fieldsFor = (origin: string | undefined): Pairs => {
    if (any) return ANY;
    if (origin === undefined || !allowed.has(origin)) return VARY_ORIGIN; // the answer varies all the same
    return [["Access-Control-Allow-Origin", origin], ["Access-Control-Expose-Headers", EXPOSE], [
      "Vary",
      "Origin",
    ]];
  };
  return (request) => {
    const head = request.head;
    const origin = head.get("origin");
    if (
      head.method === "OPTIONS" && origin !== undefined &&
      head.get("access-control-request-method") !== undefined &&
      (any || allowed.has(origin))
    ) {
      return preflight(request, any ? "*" : origin);
    }
    const pairs = fieldsFor(origin);
    const answer = handler(request);
    return answer instanceof Promise
      ? answer.then((response) => withFields(response, pairs))
      : withFields(answer, pairs);
  };
}

/**
 * A preflight from an allowed origin: 204 with the methods, the request headers asked for (any
 * header is harmless to a static site), and how long to remember it.
 */
function preflight(request: HttpRequest, allowOrigin: string): HttpResponse {
  const asked = request.head.get("access-control-request-headers")?.trim();
  const headerList: [string, string][] = [
    ["Access-Control-Allow-Origin", allowOrigin],
    ["Access-Control-Allow-Methods", METHODS],
    ["Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE_S)],
  ];
  if (asked && TOKEN_LIST.test(asked)) headerList.push(["Access-Control-Allow-Headers", asked]);
  if (allowOrigin !== "*") headerList.push(["Vary", "Origin"]);
  return { status: STATUS.NO_CONTENT, headers: ["Allow", METHODS], headerList };
}
