// Deno's private request and response fields, found by introspection and trusted only after a
// self-test against the public API. Deno.serve builds its requests lazily (a branded Request
// with an inner request whose URL and headers are made when read) and reads simple responses
// from fields it keeps for itself ("serve fast ..."); the same shapes give rawserve's serve()
// the same speed. A Deno release that changes them fails the self-test, and everything goes
// through the public API instead: correct, only slower. RAWSERVE_WEB_PUBLIC=1 forces that path
// (tests run both).

/** The private symbols of Request and Headers that lazy requests need. */
export interface RequestSymbols {
  /** webidl's brand: `new Request(brand)` makes a branded, empty Request (Deno's own path). */
  brand: symbol;
  /** The inner request: method, URL list, header list, body. */
  inner: symbol;
  /** A function that makes the Headers object on first read. */
  getHeaders: symbol;
}

/** The private symbols of Headers: a branded empty Headers gets its list and guard set directly. */
export interface HeadersSymbols {
  brand: symbol;
  /** The header list: [name, value] pairs. */
  list: symbol;
  /** "immutable" for a request's headers, as Deno.serve makes them. */
  guard: symbol;
}

/** The private fields of Response that describe a simple static response. */
export interface ResponseSymbols {
  /** 0, or the status of a response whose body is a string or bytes and whose only field is its type. */
  fastStatus: symbol;
  fastBody: symbol;
  /** 0: no Content-Type; 1: text/plain;charset=UTF-8; 2: the one in fastContentType. */
  fastHeaderKind: symbol;
  fastContentType: symbol;
  /** Set when the fast body has been sent (a Response's body is used once). */
  fastConsumed: symbol;
  /** The inner response: status, header list and body ({ streamOrStatic: { body } }). */
  inner: symbol;
}

function symbolOf(object: object, description: string): symbol | null {
  return Object.getOwnPropertySymbols(object).find((s) => s.description === description) ?? null;
}

function findRequestSymbols(): RequestSymbols | null {
  const probe = new Request("http://probe.invalid/");
  const brand = symbolOf(probe, "[[webidl.brand]]");
  const inner = symbolOf(probe, "request");
  const getHeaders = symbolOf(probe, "get headers");
  return brand && inner && getHeaders ? { brand, inner, getHeaders } : null;
}

function findHeadersSymbols(): HeadersSymbols | null {
  const probe = new Headers();
  const brand = symbolOf(probe, "[[webidl.brand]]");
  const list = symbolOf(probe, "header list");
  const guard = symbolOf(probe, "guard");
  return brand && list && guard ? { brand, list, guard } : null;
}

function findResponseSymbols(): ResponseSymbols | null {
  const probe = new Response("probe");
  const names = {
    fastStatus: "serve fast status",
    fastBody: "serve fast body",
    fastHeaderKind: "serve fast header kind",
    fastContentType: "serve fast content type",
    fastConsumed: "serve fast consumed",
    inner: "response",
  } as const;
  const found: Partial<Record<keyof typeof names, symbol>> = {};
  for (const [key, description] of Object.entries(names) as [keyof typeof names, string][]) {
    const symbol = symbolOf(probe, description);
    if (!symbol) return null;
    found[key] = symbol;
  }
  return found as ResponseSymbols;
}

/** Whether the public path is forced (RAWSERVE_WEB_PUBLIC=1), e.g. to test it. */
function publicForced(): boolean {
  try {
    return Deno.env.get("RAWSERVE_WEB_PUBLIC") === "1";
  } catch {
    return false; // no --allow-env: the default applies
  }
}

/**
 * The private symbols, when this Deno has them; each side is null when it does not (or the
 * public path is forced). The self-tests in request.ts and response.ts may still turn a side off.
 */
export const SYMBOLS: {
  request: RequestSymbols | null;
  headers: HeadersSymbols | null;
  response: ResponseSymbols | null;
} = publicForced()
  ? { request: null, headers: null, response: null }
  : { request: findRequestSymbols(), headers: findHeadersSymbols(), response: findResponseSymbols() };
