// Fields an operator adds to every response (--header): what a name and a value may hold (RFC
// 9110 §5.1, §5.5), and the fields rawserve writes itself, which an added one would contradict.

import { isFieldValue, TCHAR } from "../../http/tokens.ts";

/** Fields an operator may not add, and why: rawserve writes them (framing, representation, validators). */
const OWN_FIELDS: Readonly<Record<string, string>> = {
  "content-length": "rawserve frames every response itself",
  "transfer-encoding": "rawserve frames every response itself",
  connection: "rawserve manages connections itself",
  "keep-alive": "rawserve manages connections itself",
  upgrade: "rawserve manages connections itself",
  trailer: "rawserve frames every response itself",
  date: "rawserve sends it on every response",
  server: "rawserve sends it on every response",
  "content-type": "rawserve sends each file's own",
  "content-encoding": "rawserve sends each response's own (see --compress)",
  "content-range": "rawserve sends each response's own",
  etag: "rawserve sends each file's own",
  "last-modified": "rawserve sends each file's own",
  "accept-ranges": "rawserve sends it on files",
  vary: "rawserve sends each response's own",
  location: "rawserve sends it on redirects",
  allow: "rawserve sends it where it applies",
  "retry-after": "rawserve sends it on 503",
  "x-content-type-options": "rawserve sends nosniff on files",
  "cache-control": "use --cache-control and --immutable",
};

/** What a field value may not hold (RFC 9110 §5.5), as the end of a usage error. */
export const FIELD_VALUE_RULE =
  "the value may not contain line breaks, control characters or characters beyond Latin-1";

/** Whether text holds a control character (C0 or DEL): line breaks, NUL, escapes. */
export function hasControl(text: string): boolean {
  return [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/**
 * Splits and checks a field written as `Name: value` (optional whitespace around the value).
 * @returns the name and the value, or what is wrong, as a sentence that follows the flag's name
 */
export function parseExtraField(text: string): [string, string] | string {
  const colon = text.indexOf(":");
  const name = colon < 0 ? "" : text.slice(0, colon);
  if (colon < 1 || [...name].some((c) => c.charCodeAt(0) > 127 || !TCHAR[c.charCodeAt(0)])) {
    return `takes "Name: value" with a field name of letters, digits and !#$%&'*+-.^_\`|~, not ${
      JSON.stringify(text)
    }; e.g. --header "X-Frame-Options: DENY"`;
  }
  const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  // field-vchar, SP and HTAB, as Latin-1 bytes: CR and LF would split the response.
  if (!isFieldValue(value)) return `${name}: ${FIELD_VALUE_RULE}`;
  const lower = name.toLowerCase();
  const why = OWN_FIELDS[lower] ?? (lower.startsWith("access-control-") ? "use --cors" : null);
  return why === null ? [name, value] : `cannot set ${name}: ${why}`;
}
