// --auth-file, --auth-paths and --auth-realm: their checks, the htpasswd file read once at start,
// the warning for passwords sent over plain HTTP beyond this machine, and the wrapper the CLI
// puts around the site (inside CORS, so a preflight needs no password; the operator pages are
// composed outside it and keep their own rules).

import { StartupError } from "../../ffi/errno.ts";
import type { Handler, HttpRequest } from "../../http/types.ts";
import { isLoopbackAddress } from "../operator/introspection.ts";
import { HtpasswdError, parseHtpasswd } from "../site/htpasswd.ts";
import { hasControl } from "./extra_fields.ts";
import type { CliConfig } from "./flags.ts";

type AuthConfig = NonNullable<CliConfig["auth"]>;

/** A realm is a quoted-string; visible ASCII and spaces keep it readable in every browser's prompt. */
const REALM = /^[\x20-\x7e]{1,100}$/;

/**
 * Checks the flags (the file itself is read by readAuthFile).
 * @returns the configuration, null without --auth-file, or a usage error's words
 */
export function authConfig(
  file: string | undefined,
  paths: string[] | undefined,
  realm: string | undefined,
): CliConfig["auth"] | string {
  if (file === undefined) {
    return paths === undefined && realm === undefined
      ? null
      : "--auth-paths and --auth-realm need --auth-file FILE";
  }
  if (file === "") return "--auth-file needs an htpasswd file (htpasswd -B -c FILE USER)";
  for (const glob of paths ?? []) {
    if (glob === "" || hasControl(glob)) {
      return `--auth-paths takes a glob such as '/private/*', not ${JSON.stringify(glob)}`;
    }
  }
  if (realm !== undefined && !REALM.test(realm)) {
    return `--auth-realm takes up to 100 printable ASCII characters, not ${JSON.stringify(realm)}`;
  }
  return { file, paths: paths ?? [], realm: realm ?? "rawserve" };
}

/**
 * Reads the htpasswd file.
 * @returns each user's bcrypt hash
 * @throws {StartupError} one line: the file cannot be read, or which line and user it refuses
 */
export function readAuthFile(file: string): Map<string, string> {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw new StartupError(`Cannot read --auth-file ${file}: ${e instanceof Error ? e.message : e}`);
  }
  try {
    return parseHtpasswd(text, file);
  } catch (e) {
    if (!(e instanceof HtpasswdError)) throw e;
    throw new StartupError(`--auth-file ${file}: ${e.message}`);
  }
}

/**
 * RFC 7617 §4: Basic sends the password in clear. Over plain HTTP on an address other clients
 * reach, anyone on the path reads it.
 * @returns the warning, or null (TLS, or a loopback address)
 */
export function plainHttpWarning(config: CliConfig): string | null {
  if (config.auth === null || config.tls !== null) return null;
  if (config.host === "localhost" || isLoopbackAddress(config.host)) return null;
  return `warning: --auth-file over plain HTTP on ${config.host}: passwords cross the network readable ` +
    `by anyone on the path; add --cert and --key, or listen on 127.0.0.1`;
}

/**
 * Reads the file and makes the wrapper: Basic auth (http/basic_auth.ts) with bcrypt checks off
 * the reactor's thread (app/site/password_check.ts, loaded only here).
 * @param onAllowed hears who was let in (the access log's user)
 * @returns what wraps a handler with the authentication
 * @throws {StartupError} as readAuthFile
 */
export async function authWrapper(
  auth: AuthConfig,
  onAllowed?: (request: HttpRequest, user: string) => void,
): Promise<(handler: Handler) => Handler> {
  const users = readAuthFile(auth.file);
  const [{ withBasicAuth }, { BcryptCheck }] = await Promise.all([
    import("../../http/basic_auth.ts"),
    import("../site/password_check.ts"),
  ]);
  const check = new BcryptCheck(users);
  const options = { realm: auth.realm, paths: auth.paths, check, ...(onAllowed ? { onAllowed } : {}) };
  return (handler) => withBasicAuth(handler, options);
}
