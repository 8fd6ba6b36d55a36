// Response fields pre-encoded once, for responses that repeat them (static files, fixed pages):
// `Name: value` CRLF lines, the form HTTP/1.1 writes as is; another protocol reads the pairs
// back from the same bytes. Encoding checks each field once, not on every response.

const COLON = 0x3a, SP = 0x20, CR = 0x0d, LF = 0x0a;

/**
 * Pre-encodes header fields.
 * @param headers field names and values, alternating
 * @returns the `Name: value\r\n` lines, as Latin-1 bytes
 * @throws {TypeError} for a field that would split the response (CR, LF, NUL) or is not Latin-1
 */
export function encodeFields(headers: readonly string[]): Uint8Array {
  let length = 0;
  for (let i = 0; i + 1 < headers.length; i += 2) length += headers[i]!.length + headers[i + 1]!.length + 4;
  const out = new Uint8Array(length);
  let o = 0;
  const put = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff || c === CR || c === LF || c === 0) {
        throw new TypeError(`Invalid character in response header: ${JSON.stringify(s)}`);
      }
      out[o++] = c;
    }
  };
  for (let i = 0; i + 1 < headers.length; i += 2) {
    put(headers[i]!);
    out[o++] = COLON;
    out[o++] = SP;
    put(headers[i + 1]!);
    out[o++] = CR;
    out[o++] = LF;
  }
  return out;
}

/**
 * Reads pre-encoded fields back as pairs (for a protocol that does not write them as lines).
 * @param fields bytes made by encodeFields()
 * @returns field names and values, alternating, as written
 */
export function decodeFields(fields: Uint8Array): string[] {
  const out: string[] = [];
  let line = 0;
  for (let i = 0; i + 1 < fields.length; i++) {
    if (fields[i] !== CR || fields[i + 1] !== LF) continue;
    let colon = line;
    while (fields[colon] !== COLON) colon++;
    out.push(latin1(fields, line, colon), latin1(fields, colon + 2, i));
    line = i + 2;
    i++;
  }
  return out;
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}
