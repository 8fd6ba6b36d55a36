// Session-ticket keys that rotate (RFC 5077 §5.5: "keys should be changed regularly"): a
// one-way ratchet of secrets, one step per period of the wall clock, so every process holding
// the same state derives the same keys at the same time, and a secret taken from memory today
// does not decrypt the tickets of periods before the last. No OpenSSL here: the supervisor of
// --workers keeps a ring too, and hands its state to each worker it starts.

import { createHmac } from "node:crypto";

/** How long a key issues tickets: 12 hours, then one more period it only decrypts (nginx rotates daily at most). */
export const TICKET_ROTATION_MS = 12 * 60 * 60 * 1000;
/** The ring's state as bytes: the period (u32), its secret, the previous period's secret (zeros: none). */
export const TICKET_STATE_LENGTH = 4 + 32 + 32;

/** One ticket key: what OpenSSL's ticket callback needs (16-byte name, HMAC-SHA256 and AES-256 keys). */
export interface TicketKey {
  name: Uint8Array;
  hmac: Uint8Array;
  aes: Uint8Array;
}

/** Where a ring starts and how it tells time. */
export interface TicketKeyRingOptions {
  /** The length of a period (default TICKET_ROTATION_MS). */
  intervalMs?: number;
  /** The wall clock, in ms since the epoch (default Date.now); every holder must share it. */
  now?: () => number;
}

function hmac(key: Uint8Array, label: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(label).digest());
}

function deriveKey(secret: Uint8Array): TicketKey {
  return {
    name: hmac(secret, "rawserve ticket key name").subarray(0, 16),
    hmac: hmac(secret, "rawserve ticket key hmac"),
    aes: hmac(secret, "rawserve ticket key aes"),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * The current ticket key (issues and decrypts) and the previous one (decrypts, and asks for a
 * new ticket), moved on as the clock passes each period's end.
 */
export class TicketKeyRing {
  #intervalMs: number;
  #now: () => number;
  #period: number;
  #secret: Uint8Array;
  #previousSecret: Uint8Array | null;
  #current: TicketKey;
  #previous: TicketKey | null;

  private constructor(
    period: number,
    secret: Uint8Array,
    previousSecret: Uint8Array | null,
    options: TicketKeyRingOptions,
  ) {
    this.#intervalMs = options.intervalMs ?? TICKET_ROTATION_MS;
    this.#now = options.now ?? Date.now;
    this.#period = period;
    this.#secret = secret;
    this.#previousSecret = previousSecret;
    this.#current = deriveKey(secret);
    this.#previous = previousSecret ? deriveKey(previousSecret) : null;
  }

  /** A ring with a fresh random secret for the current period. */
  static fresh(options: TicketKeyRingOptions = {}): TicketKeyRing {
    const intervalMs = options.intervalMs ?? TICKET_ROTATION_MS;
    const period = Math.floor((options.now ?? Date.now)() / intervalMs);
    return new TicketKeyRing(period, crypto.getRandomValues(new Uint8Array(32)), null, options);
  }

  /**
   * A ring from another's state (toBytes), e.g. a worker's from its supervisor's.
   * @throws {RangeError} when `state` is not TICKET_STATE_LENGTH bytes
   */
  static fromBytes(state: Uint8Array, options: TicketKeyRingOptions = {}): TicketKeyRing {
    if (state.length !== TICKET_STATE_LENGTH) {
      throw new RangeError(`ticket key state must be ${TICKET_STATE_LENGTH} bytes, not ${state.length}`);
    }
    const period = new DataView(state.buffer, state.byteOffset, 4).getUint32(0);
    const previous = state.slice(36, 68);
    return new TicketKeyRing(period, state.slice(4, 36), previous.some((b) => b) ? previous : null, options);
  }

  /** The state another ring starts from to derive the same keys from now on (a secret). */
  toBytes(): Uint8Array {
    this.advance();
    const out = new Uint8Array(TICKET_STATE_LENGTH);
    new DataView(out.buffer).setUint32(0, this.#period);
    out.set(this.#secret, 4);
    if (this.#previousSecret) out.set(this.#previousSecret, 36);
    return out;
  }

  /**
   * Moves to the clock's period: one hash per period passed (730 a year), the same steps in
   * every holder, so rings that advanced at different moments agree. The secret two periods
   * old is overwritten, and its keys dropped.
   */
  advance(): void {
    const target = Math.floor(this.#now() / this.#intervalMs);
    if (target <= this.#period) return;
    while (this.#period < target) {
      this.#previousSecret?.fill(0);
      this.#previousSecret = this.#secret;
      this.#secret = hmac(this.#secret, "rawserve ticket ratchet");
      this.#period++;
    }
    this.#current = deriveKey(this.#secret);
    this.#previous = deriveKey(this.#previousSecret!);
  }

  /** The key new tickets are encrypted with. */
  encryptionKey(): TicketKey {
    this.advance();
    return this.#current;
  }

  /**
   * The key a ticket named `name` was issued with, if it is still accepted.
   * @returns the key, and whether the client should get a new ticket (the previous key), or null
   */
  decryptionKey(name: Uint8Array): { key: TicketKey; renew: boolean } | null {
    this.advance();
    if (sameBytes(name, this.#current.name)) return { key: this.#current, renew: false };
    if (this.#previous && sameBytes(name, this.#previous.name)) return { key: this.#previous, renew: true };
    return null;
  }
}
