// Proactive negotiation (RFC 9110 §12): which media type a client prefers (Accept, §12.5.1) and
// which content codings it accepts (Accept-Encoding, §12.5.3). Parsed values are numbers; the
// Accept-Encoding of the last request is remembered, so a client's repeated field costs one
// string comparison, not a parse.

import type { RequestHead } from "./request_head.ts";

/**
 * The q-value `accept` gives `type` and how specifically (2 exact, 1 `type/*`, 0 `*\/*`, -1
 * not at all): the most specific matching range decides (RFC 9110 §12.5.1).
 */
function qualityOf(accept: string, type: string): [q: number, specificity: number] {
  const major = type.slice(0, type.indexOf("/"));
  let best = 0, specificity = -1;
  for (const range of accept.split(",")) {
    const [name = "", ...params] = range.split(";").map((s) => s.trim().toLowerCase());
    const level = name === type ? 2 : name === `${major}/*` ? 1 : name === "*/*" ? 0 : -1;
    if (level <= specificity) continue;
    const q = params.find((p) => p.startsWith("q="));
    specificity = level;
    best = q ? Number(q.slice(2)) || 0 : 1;
  }
  return [best, specificity];
}

/**
 * Whether a client asks for JSON rather than HTML: `Accept: application/json` does, and so does
 * `application/json, text/plain, *\/*`; a browser's `text/html,…,*\/*;q=0.8` and curl's `*\/*`
 * do not. Equal q-values go to the type named more specifically, then to HTML.
 */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const [jsonQ, jsonLevel] = qualityOf(accept, "application/json");
  const [htmlQ, htmlLevel] = qualityOf(accept, "text/html");
  if (jsonQ === 0) return false;
  return jsonQ > htmlQ || (jsonQ === htmlQ && jsonLevel > htmlLevel);
}

/**
 * Whether a client names HTML among what it accepts (`text/html` or `text/*`, q above 0), as a
 * browser navigating does; `*\/*` alone (curl, fetch()) does not, so they keep plain text.
 */
export function acceptsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const [q, level] = qualityOf(accept, "text/html");
  return q > 0 && level >= 1;
}

/** The content codings rawserve sends, in its order of preference (RFC 9110 §8.4.1). */
export const CODINGS = ["br", "zstd", "gzip"] as const;
/** A content coding rawserve sends. */
export type Coding = typeof CODINGS[number];
/** A set of codings: bit i stands for CODINGS[i]. */
export const ALL_CODINGS = 0b111;
/** Index of "no coding" (identity) in AcceptedCodings, and chooseCoding()'s answer for it. */
export const IDENTITY = 3;
/** chooseCoding()'s answer when the client refuses identity and every coding on offer. */
export const NOT_ACCEPTABLE = 4;

/** What a client accepts: q-values (0 refuses) of CODINGS by index, then of identity at IDENTITY. */
export type AcceptedCodings = Readonly<Float64Array>;

/** No coding but identity: no Accept-Encoding, or one that does not parse. */
const IDENTITY_ONLY: AcceptedCodings = Float64Array.of(0, 0, 0, 1);
/**
 * The q-value identity gets when the client does not name it (nor `*`): acceptable (§12.5.3),
 * but below any coding the client lists, so `gzip;q=0.5` still means gzip. Less than the
 * smallest qvalue a client can write (0.001).
 */
const UNLISTED_IDENTITY_Q = 1e-6;
/**
 * One element of the list: a coding, and a weight that is only `q` (§12.4.2: `qvalue` is 0 to 1
 * with up to three decimals; no space around "="; the parameter name is case-insensitive).
 */
const ELEMENT =
  /^[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]*;[ \t]*[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?[ \t]*$/;
const INDEX: Readonly<Record<string, number>> = { br: 0, zstd: 1, gzip: 2, "x-gzip": 2, identity: IDENTITY };

/**
 * Parses Accept-Encoding (RFC 9110 §12.5.3). Codings and `q` are case-insensitive; `x-gzip` is
 * gzip (§8.4.1.3); `*` covers every coding not named, identity included; a coding named twice
 * gets its lower q-value (a refusal stands); codings rawserve does not send are ignored. An
 * empty value accepts identity only; so does a value that does not parse (a bad q-value, another
 * parameter, a stray character): sending no coding is the one answer it cannot misread.
 * @param value the field's value (several fields joined with commas), or undefined when absent
 * @returns the q-value of each coding and of identity
 */
export function parseAcceptEncoding(value: string | undefined): AcceptedCodings {
  if (value === undefined) return IDENTITY_ONLY;
  const named = [NaN, NaN, NaN, NaN];
  let star = NaN;
  for (const element of value.split(",")) {
    const m = ELEMENT.exec(element);
    if (!m) {
      if (/^[ \t]*$/.test(element)) continue; // empty list elements are allowed (§5.6.1)
      return IDENTITY_ONLY;
    }
    const q = m[2] === undefined ? 1 : Number(m[2]);
    const name = m[1]!.toLowerCase();
    if (name === "*") star = Number.isNaN(star) ? q : Math.min(star, q);
    const index = INDEX[name];
    if (index !== undefined) named[index] = Number.isNaN(named[index]!) ? q : Math.min(named[index]!, q);
  }
  const unlisted = Number.isNaN(star) ? 0 : star;
  const accepted = new Float64Array(4);
  for (let i = 0; i < IDENTITY; i++) accepted[i] = Number.isNaN(named[i]!) ? unlisted : named[i]!;
  const identity = named[IDENTITY]!;
  accepted[IDENTITY] = !Number.isNaN(identity) ? identity : Number.isNaN(star) ? UNLISTED_IDENTITY_Q : star;
  return accepted;
}

let lastValue: string | undefined = undefined;
let lastAccepted: AcceptedCodings = IDENTITY_ONLY;

/**
 * What the request's Accept-Encoding fields accept (several fields are one list, §5.3). The last
 * value parsed is remembered: clients send the same one on every request.
 */
export function acceptedCodings(head: RequestHead): AcceptedCodings {
  const h = head.headers;
  let value: string | undefined = undefined;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === "accept-encoding") value = value === undefined ? h[i + 1]! : `${value}, ${h[i + 1]}`;
  }
  if (value === lastValue) return lastAccepted;
  lastAccepted = parseAcceptEncoding(value);
  lastValue = value;
  return lastAccepted;
}

/** The coding in `mask` the client gives the highest q-value above 0 (ties: rawserve's order), or -1. */
function best(accepted: AcceptedCodings, mask: number): number {
  let choice = -1, q = 0;
  for (let i = 0; i < IDENTITY; i++) {
    if ((mask >> i & 1) !== 0 && accepted[i]! > q) {
      q = accepted[i]!;
      choice = i;
    }
  }
  return choice;
}

/**
 * Chooses the coding to send among two disjoint sets on offer: `first` wins ties against
 * `second` (precompressed files against compressing here), then rawserve's order (br, zstd,
 * gzip). A coding beats identity unless the client gives identity a higher q-value.
 * @returns an index into CODINGS, IDENTITY, or NOT_ACCEPTABLE when identity is refused too
 */
export function chooseCoding(accepted: AcceptedCodings, first: number, second: number): number {
  const a = best(accepted, first), b = best(accepted, second);
  const choice = b >= 0 && (a < 0 || accepted[b]! > accepted[a]!) ? b : a;
  if (choice >= 0 && accepted[choice]! >= accepted[IDENTITY]!) return choice;
  return accepted[IDENTITY]! > 0 ? IDENTITY : NOT_ACCEPTABLE;
}
