// An incremental UTF-8 validator (RFC 3629 §4, the table of well-formed byte sequences): fed a
// message's bytes as they arrive, it fails at the first byte that cannot begin or continue a
// well-formed sequence, so an invalid text message fails fast, before the rest arrives
// (RFC 6455 §8.1). Overlong forms, surrogates and code points past U+10FFFF are rejected.

/** Checks bytes piece by piece; a sequence may be cut anywhere between two pieces. */
export class Utf8Validator {
  /** Continuation bytes the current sequence still needs. */
  #need = 0;
  /** Range of the next continuation byte (narrower after E0, ED, F0, F4). */
  #lower = 0x80;
  #upper = 0xbf;

  /**
   * Checks `bytes[start, end)` as the continuation of what came before.
   * @returns false at the first byte that makes the text ill-formed (the validator is then spent)
   */
  push(bytes: Uint8Array, start: number, end: number): boolean {
    let need = this.#need;
    let lower = this.#lower;
    let upper = this.#upper;
    for (let i = start; i < end; i++) {
      if (need === 0) {
        // ASCII runs four bytes at a time: text is mostly ASCII, and this loop is per byte.
        while (i + 3 < end && ((bytes[i]! | bytes[i + 1]! | bytes[i + 2]! | bytes[i + 3]!) & 0x80) === 0) {
          i += 4;
        }
        if (i === end) break;
      }
      const b = bytes[i]!;
      if (need === 0) {
        if (b < 0x80) continue;
        if (b >= 0xc2 && b <= 0xdf) need = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          if (b === 0xe0) lower = 0xa0; // overlong below U+0800
          else if (b === 0xed) upper = 0x9f; // surrogates U+D800-DFFF
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          if (b === 0xf0) lower = 0x90; // overlong below U+10000
          else if (b === 0xf4) upper = 0x8f; // past U+10FFFF
        } else return false; // 80-C1 (continuation or overlong lead), F5-FF
      } else {
        if (b < lower || b > upper) return false;
        lower = 0x80;
        upper = 0xbf;
        need--;
      }
    }
    this.#need = need;
    this.#lower = lower;
    this.#upper = upper;
    return true;
  }

  /** Whether the bytes so far end between two characters (a message may end here). */
  get complete(): boolean {
    return this.#need === 0;
  }

  /** Starts over for the next message. */
  reset(): void {
    this.#need = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }
}

/** Whether `bytes` are well-formed UTF-8 as a whole. */
export function isUtf8(bytes: Uint8Array): boolean {
  const validator = new Utf8Validator();
  return validator.push(bytes, 0, bytes.length) && validator.complete;
}
