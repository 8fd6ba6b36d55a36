// Status codes, reason phrases (RFC 9110 §15), the typed error a parser verdict carries, and
// the plain-text answer every part of rawserve gives for a bare status.

import type { HttpResponse } from "./types.ts";
import { escapeHtml } from "./format.ts";

/** The status codes rawserve sends, by name. */
export const STATUS = {
  CONTINUE: 100,
  SWITCHING_PROTOCOLS: 101,
  OK: 200,
  NO_CONTENT: 204,
  PARTIAL_CONTENT: 206,
  MOVED_PERMANENTLY: 301,
  NOT_MODIFIED: 304,
  TEMPORARY_REDIRECT: 307,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  REQUEST_TIMEOUT: 408,
  LENGTH_REQUIRED: 411,
  PRECONDITION_FAILED: 412,
  CONTENT_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  RANGE_NOT_SATISFIABLE: 416,
  EXPECTATION_FAILED: 417,
  REQUEST_HEADER_FIELDS_TOO_LARGE: 431,
  INTERNAL_SERVER_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  SERVICE_UNAVAILABLE: 503,
  HTTP_VERSION_NOT_SUPPORTED: 505,
} as const;

/** RFC 9110 §15 reason phrases. */
export const REASON: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * A request the server must refuse. Thrown by the parser and body decoders; the connection
 * answers with `status` and, because the framing of what follows is in doubt, closes.
 */
export class HttpError extends Error {
  /**
   * @param status the 4xx/5xx status to send
   * @param message why, for logs and the response body
   */
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}

const TEXT_PLAIN = "text/plain; charset=utf-8";
const TEXT_HTML = "text/html; charset=utf-8";

/** What an HTML error page says below its title, by status. */
const EXPLANATION: Readonly<Record<number, string>> = {
  400: "The request could not be understood.",
  401: "This address needs a user name and password.",
  403: "This address is not served.",
  404: "Nothing is served at this address.",
  405: "This address answers GET and HEAD only.",
  406: "The client refused every form this resource can be sent in.",
  416: "The range asked for lies outside the file.",
  500: "The server could not answer; its log says why.",
  503: "The server is busy; try again in a moment.",
};

/** An HTML page for a status: the code and reason as its title, and one sentence. */
function statusPage(status: number, text: string): string {
  const title = escapeHtml(`${status} ${text}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:4rem auto;max-width:40rem;padding:0 1rem;color:#222}</style>
</head><body><h1>${title}</h1><p>${EXPLANATION[status] ?? ""}</p></body></html>
`;
}

/**
 * A plain-text answer for a bare status: `404 Not Found` and a newline, or an HTML page saying
 * the same for a client that reads HTML. A 503 carries `Retry-After: 1` (RFC 9110 §10.2.3): what
 * it lacks (descriptors, memory) comes back soon.
 * @param status the status code
 * @param options `headers`: more field names and values, alternating (e.g. `["Allow", "GET"]`);
 *   `text`: what follows the status code in the body (default: the reason phrase); `html`: answer
 *   an HTML page
 * @returns the response
 */
export function statusResponse(
  status: number,
  options: { headers?: readonly string[]; text?: string; html?: boolean } = {},
): HttpResponse {
  const retry = status === STATUS.SERVICE_UNAVAILABLE ? ["Retry-After", "1"] : [];
  const text = options.text ?? REASON[status] ?? "Error";
  return {
    status,
    headers: ["Content-Type", options.html ? TEXT_HTML : TEXT_PLAIN, ...retry, ...(options.headers ?? [])],
    body: options.html ? statusPage(status, text) : `${status} ${text}\n`,
  };
}
