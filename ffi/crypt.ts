// The one Deno.dlopen of libcrypt (libxcrypt's libcrypt.so.1), for checking passwords against
// bcrypt hashes (`$2b$`, `$2y$`, `$2a$`). crypt_rn is declared `nonblocking`: Deno runs it on its
// blocking thread pool and hands back a Promise, because one bcrypt at cost 10 takes ~50 ms,
// which the reactor's thread must never spend. Opened at the first CryptSlot.

import { StartupError } from "./errno.ts";

/**
 * libcrypt's functions. crypt_rn (libxcrypt ≥ 4.0) takes the size of its scratch area and
 * returns NULL on failure, where crypt_r would return a "*0" string.
 */
export const LIBCRYPT = {
  // char *crypt_rn(const char *phrase, const char *setting, void *data, int size)
  crypt_rn: { parameters: ["buffer", "buffer", "buffer", "i32"], result: "pointer", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * sizeof(struct crypt_data) in libxcrypt (crypt.h): output 384, setting 384, input 512,
 * reserved 767, initialized 1, internal 30720; crypt_rn writes its result at offset 0.
 */
export const CRYPT_DATA_SIZE = 32_768;
/** CRYPT_OUTPUT_SIZE (crypt.h): the longest result, its NUL included. */
const CRYPT_OUTPUT_SIZE = 384;

let libcrypt: Deno.DynamicLibrary<typeof LIBCRYPT>["symbols"] | null = null;

function open(): Deno.DynamicLibrary<typeof LIBCRYPT>["symbols"] {
  if (libcrypt !== null) return libcrypt;
  try {
    libcrypt = Deno.dlopen("libcrypt.so.1", LIBCRYPT).symbols;
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new StartupError(
      `Cannot load libcrypt.so.1 for password checks: ${why}; install the libcrypt1 package (apt-get install libcrypt1)`,
    );
  }
  return libcrypt;
}

const encoder = new TextEncoder();

/**
 * One crypt_rn at a time, with its own struct crypt_data (32 KiB, allocated once): a caller runs
 * as many slots in parallel as it allows hashes in parallel. The slot's buffers must not be
 * touched while a hash is in flight (the thread pool writes them), so hash() refuses a second
 * call until the first has settled.
 */
export class CryptSlot {
  #data = new Uint8Array(CRYPT_DATA_SIZE);
  #crypt = open().crypt_rn;
  #busy = false;

  /**
   * Hashes `phrase` with the method, cost and salt of `setting` (a whole hash will do: crypt
   * reads the prefix it needs). The phrase's copy and the scratch area are zeroed afterwards.
   * @param phrase the password's bytes (no NUL among them: C strings end there)
   * @param setting e.g. `$2y$10$` followed by a salt, or a complete bcrypt hash
   * @returns the hash as crypt(3) writes it, or null when libcrypt refuses the setting
   * @throws {Error} when called again before the previous call settled (a bug)
   */
  async hash(phrase: Uint8Array, setting: string): Promise<string | null> {
    if (this.#busy) throw new Error("CryptSlot.hash() called while a hash is in flight");
    this.#busy = true;
    const input = new Uint8Array(phrase.length + 1); // NUL-terminated copy
    input.set(phrase);
    const salt = encoder.encode(setting + "\0");
    try {
      const result = await this.#crypt(input, salt, this.#data, this.#data.length);
      if (result === null) return null;
      const end = this.#data.indexOf(0);
      return String.fromCharCode(...this.#data.subarray(0, end < 0 ? CRYPT_OUTPUT_SIZE : end));
    } finally {
      input.fill(0);
      this.#data.fill(0); // the phrase's copies inside it too (32 KiB: ~2 µs beside ~50 ms)
      this.#busy = false;
    }
  }
}
