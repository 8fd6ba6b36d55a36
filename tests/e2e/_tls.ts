// Helpers for HTTPS tests: a throwaway PKI made with the openssl CLI in a temp dir (a CA, a
// localhost certificate, a second CA and certificate for reloads, an expired one), and what
// tools this machine has. Tests that need a missing tool are ignored with the reason in their name.

/** Whether `command` runs here. */
function toolRuns(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Whether libssl.so.3 can be loaded (HTTPS needs it; Debian's libssl3 package). */
export const HAS_LIBSSL = (() => {
  try {
    Deno.dlopen("libssl.so.3", {}).close();
    return true;
  } catch {
    return false;
  }
})();
export const HAS_OPENSSL = HAS_LIBSSL && toolRuns("openssl", ["version"]);
export const HAS_CURL = toolRuns("curl", ["--version"]);

/**
 * A test's name, with why it is skipped when a tool it needs is missing.
 * @returns the name and whether to ignore the test
 */
export function needs(name: string, tools: ("openssl" | "curl")[]): { name: string; ignore: boolean } {
  const missing = tools.filter((t) => !(t === "openssl" ? HAS_OPENSSL : HAS_CURL));
  if (missing.length === 0) return { name, ignore: false };
  return {
    name: `${name} (skipped: no ${missing.join(" or ")} CLI here; apt-get install ${missing.join(" ")})`,
    ignore: true,
  };
}

/** A certificate and its key, as PEM files. */
export interface Pair {
  cert: string;
  key: string;
}

/** The throwaway PKI. */
export interface TestPki {
  dir: string;
  /** CA that signed `leaf` and `expired`. */
  ca: string;
  caPem: string;
  /** CN=localhost, SAN localhost and 127.0.0.1. */
  leaf: Pair;
  /** Signed by `ca2`: which CA verifies a new connection tells which certificate it got. */
  ca2: string;
  ca2Pem: string;
  leaf2: Pair;
  /** Valid only in January 2020. */
  expired: Pair;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  const out = new Deno.Command("openssl", { args, cwd: dir, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

const CA_CONFIG = `[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
`;

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** Makes the PKI in a new temp dir (about 0.2 s). */
export function makePki(): TestPki {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-tls-" });
  Deno.writeTextFileSync(`${dir}/ca.cnf`, CA_CONFIG);
  Deno.writeTextFileSync(`${dir}/index.txt`, "");
  Deno.writeTextFileSync(`${dir}/serial`, "01\n");
  const ca = (name: string) =>
    openssl(dir, [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=rawserve test ${name}`,
    ]);
  const leaf = (name: string, signer: string, cn: string, dates: string[]) => {
    openssl(dir, [
      "req",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "extendedKeyUsage=serverAuth",
    ]);
    openssl(dir, [
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      `${signer}.pem`,
      "-keyfile",
      `${signer}.key`,
      "-in",
      `${name}.csr`,
      "-out",
      `${name}.pem`,
      "-notext",
      ...dates,
    ]);
    return { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.key` };
  };
  ca("ca");
  ca("ca2");
  const pki: TestPki = {
    dir,
    ca: `${dir}/ca.pem`,
    caPem: Deno.readTextFileSync(`${dir}/ca.pem`),
    leaf: leaf("leaf", "ca", "localhost", ["-days", "2"]),
    ca2: `${dir}/ca2.pem`,
    ca2Pem: Deno.readTextFileSync(`${dir}/ca2.pem`),
    leaf2: leaf("leaf2", "ca2", "reloaded", ["-days", "2"]),
    expired: leaf("expired", "ca", "expired", [
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200102000000Z",
    ]),
    remove: () => Deno.removeSync(dir, { recursive: true }),
  };
  return pki;
}

/** Runs a command with stdin, bounded in time. */
export async function runTool(
  command: string,
  args: string[],
  input = "",
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input)).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
