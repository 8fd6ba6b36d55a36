// Passwords checked against bcrypt hashes, with a bound on what a client can make that cost.
// One bcrypt at cost 10 is ~50 ms of CPU, so: hashes run off the reactor's thread (ffi/crypt.ts),
// at most `verifying` at once, `queued` more wait, and beyond that the answer is BUSY (503) at
// once; identical credentials in flight share one hash; a success is remembered for `ttlMs` under
// an HMAC of the credentials (never the password itself), so a logged-in browser costs no bcrypt.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CryptSlot } from "../../ffi/crypt.ts";
import { type PasswordCheck, VERDICT, type Verdict } from "../../http/basic_auth.ts";

/** The bounds, each with its reason. */
export const PASSWORD_CHECK_LIMITS = {
  /** Hashes at once: half the CPUs, at least one, so a flood leaves the reactor a core. */
  verifying: Math.max(1, Math.floor(navigator.hardwareConcurrency / 2)),
  /** Checks waiting for a hash: at cost 10 on one thread, ~0.8 s of queue, a login's worth of waiting. */
  queued: 16,
  /** Remembered successes: ~150 bytes each, far more users than an htpasswd file holds. */
  cached: 1024,
  /** How long a success is remembered: a browser resends the credentials with every request. */
  ttlMs: 60_000,
} as const;

/** Something that hashes a password with a setting: a CryptSlot, or a stand-in in tests. */
export interface Hasher {
  hash(phrase: Uint8Array, setting: string): Promise<string | null>;
}

/** The bounds and, for tests, the clock and the hashers. */
export interface PasswordCheckOptions {
  verifying?: number;
  queued?: number;
  cached?: number;
  ttlMs?: number;
  /** Milliseconds on a monotonic clock (default performance.now). */
  now?: () => number;
  /** Makes one hasher per parallel hash (default: a CryptSlot, libcrypt's crypt_rn). */
  newHasher?: () => Hasher;
}

const encoder = new TextEncoder();

/** Equal strings, in time that depends on their length only (the length of a bcrypt hash is public). */
function sameText(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks passwords against an htpasswd file's bcrypt hashes (see the module comment). */
export class BcryptCheck implements PasswordCheck {
  #users: ReadonlyMap<string, string>;
  /** Hashed for an unknown user, so that it takes as long as a known one. */
  #decoy: string;
  #limits: Required<Omit<PasswordCheckOptions, "now" | "newHasher">>;
  #now: () => number;
  #free: Hasher[] = [];
  #waiting: ((hasher: Hasher) => void)[] = [];
  #inflight = new Map<string, Promise<Verdict>>();
  /** HMAC of the credentials → when the success expires. Map order is insertion order: oldest first. */
  #cache = new Map<string, number>();
  #secret = randomBytes(32);
  /** What happened, for tests and reports. */
  readonly counters = { hashed: 0, cacheHits: 0, shared: 0, busy: 0 };

  /**
   * @param users each user's bcrypt hash (parseHtpasswd's result; at least one)
   * @param options bounds, clock and hashers
   */
  constructor(users: ReadonlyMap<string, string>, options: PasswordCheckOptions = {}) {
    this.#users = users;
    this.#decoy = users.values().next().value ?? "";
    this.#limits = {
      verifying: options.verifying ?? PASSWORD_CHECK_LIMITS.verifying,
      queued: options.queued ?? PASSWORD_CHECK_LIMITS.queued,
      cached: options.cached ?? PASSWORD_CHECK_LIMITS.cached,
      ttlMs: options.ttlMs ?? PASSWORD_CHECK_LIMITS.ttlMs,
    };
    this.#now = options.now ?? (() => performance.now());
    const newHasher = options.newHasher ?? (() => new CryptSlot());
    for (let i = 0; i < this.#limits.verifying; i++) this.#free.push(newHasher());
  }

  /** @see PasswordCheck.check */
  check(user: string, password: Uint8Array): Verdict | Promise<Verdict> {
    const key = createHmac("sha256", this.#secret).update(user).update("\0").update(password).digest(
      "base64",
    );
    if (this.#remembered(key)) {
      this.counters.cacheHits++;
      return VERDICT.ALLOWED;
    }
    const same = this.#inflight.get(key);
    if (same !== undefined) {
      this.counters.shared++;
      return same;
    }
    const hasher = this.#free.pop();
    if (hasher === undefined && this.#waiting.length >= this.#limits.queued) {
      this.counters.busy++;
      return VERDICT.BUSY;
    }
    const ready = hasher ?? new Promise<Hasher>((resolve) => this.#waiting.push(resolve));
    const verdict = Promise.resolve(ready).then((h) => this.#verify(h, user, password, key));
    this.#inflight.set(key, verdict);
    return verdict;
  }

  async #verify(hasher: Hasher, user: string, password: Uint8Array, key: string): Promise<Verdict> {
    try {
      const stored = this.#users.get(user);
      this.counters.hashed++;
      const hash = password.includes(0) ? null : await hasher.hash(password, stored ?? this.#decoy);
      const ok = stored !== undefined && hash !== null && sameText(hash, stored);
      if (ok) this.#remember(key);
      return ok ? VERDICT.ALLOWED : VERDICT.DENIED;
    } finally {
      password.fill(0);
      this.#inflight.delete(key);
      const next = this.#waiting.shift();
      if (next) next(hasher);
      else this.#free.push(hasher);
    }
  }

  #remembered(key: string): boolean {
    const expires = this.#cache.get(key);
    if (expires === undefined) return false;
    if (expires > this.#now()) return true;
    this.#cache.delete(key);
    return false;
  }

  #remember(key: string): void {
    this.#cache.delete(key); // to the end of the order
    this.#cache.set(key, this.#now() + this.#limits.ttlMs);
    if (this.#cache.size > this.#limits.cached) this.#cache.delete(this.#cache.keys().next().value!);
  }
}
