// An htpasswd file (Apache's format: `user:hash` a line) whose hashes are bcrypt, as `htpasswd -B`
// writes them. Any other kind of hash (MD5 apr1, SHA-1, crypt, plain text) is refused with the
// line and user it is on: a file half of whose users could never log in is a mistake to say at
// start, not a 401 to puzzle over later.

/** bcrypt as crypt(3) writes it (`$2b$`, `$2y$` from htpasswd, `$2a$` from older tools), cost and 53 characters. */
const BCRYPT = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;
/** htpasswd -C takes 4 to 17: each step doubles the time, and 17 already takes ~6 s a check here. */
const MAX_COST = 17;
const MIN_COST = 4;

/** The other kinds htpasswd and its peers write, to name them in the refusal. */
const KINDS: readonly (readonly [RegExp, string])[] = [
  [/^\$apr1\$/, "an MD5 (apr1) hash"],
  [/^\{SHA\}/, "a SHA-1 hash"],
  [/^\$1\$/, "an MD5-crypt hash"],
  [/^\$5\$/, "a SHA-256-crypt hash"],
  [/^\$6\$/, "a SHA-512-crypt hash"],
  [/^\$2/, "a malformed bcrypt hash"],
  [/^[./A-Za-z0-9]{13}$/, "a DES crypt hash"],
];

/** A refusal: which line, and why (the caller names the file and the flag). */
export class HtpasswdError extends Error {}

/**
 * Reads an htpasswd file's text. Empty lines and lines starting with `#` are skipped (as Apache
 * does); a user-id holds no colon, so each line splits at its first.
 * @param text the file's contents
 * @param file the file's name, for the command its refusals suggest
 * @returns each user's bcrypt hash
 * @throws {HtpasswdError} one line naming the line number and the user: a line without a colon, a
 *   hash that is not bcrypt or whose cost is out of range, a user listed twice, no user at all
 */
export function parseHtpasswd(text: string, file = "FILE"): Map<string, string> {
  const users = new Map<string, string>();
  const firstLine = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    const n = i + 1;
    if (line.trim() === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HtpasswdError(`line ${n} is not user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    const bcrypt = BCRYPT.exec(hash);
    if (bcrypt === null) {
      const kind = KINDS.find(([pattern]) => pattern.test(hash))?.[1] ??
        "a plain-text password or unknown hash";
      throw new HtpasswdError(
        `line ${n}: user "${user}" has ${kind}; only bcrypt is accepted (set it again with htpasswd -B ${file} ${user})`,
      );
    }
    const cost = Number(bcrypt[1]);
    if (cost < MIN_COST || cost > MAX_COST) {
      throw new HtpasswdError(
        `line ${n}: user "${user}" has bcrypt cost ${cost}; use ${MIN_COST} to ${MAX_COST}`,
      );
    }
    const first = firstLine.get(user);
    if (first !== undefined) {
      throw new HtpasswdError(`line ${n}: user "${user}" is listed again (first on line ${first})`);
    }
    firstLine.set(user, n);
    users.set(user, hash);
  }
  if (users.size === 0) throw new HtpasswdError(`no users (add one with htpasswd -B ${file} USER)`);
  return users;
}
