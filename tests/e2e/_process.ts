// A rawserve started by any command (an installed launcher, `deno task`, `unshare`), its banner
// read line by line, its stderr watchable while it runs: for tests of how people start it.

import { RUN_PERMISSIONS } from "../../app/cli/supervisor.ts";

/** The repository's root folder, with a trailing slash. */
export const REPO = new URL("../../", import.meta.url).pathname;

/** The environment of a child that must not inherit this test's INIT_CWD (`deno task test` sets it). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1", ...extra };
  const denoDir = Deno.execPath().slice(0, Deno.execPath().lastIndexOf("/"));
  env.PATH = `${denoDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "NPM_CONFIG_REGISTRY"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** A started process whose banner has been read. */
export interface Started {
  pid: number;
  /** The banner's lines, up to and including "Ctrl-C to stop". */
  banner: string[];
  /** The port in the banner's first URL. */
  port: number;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once stderr matches `pattern`; rejects after `ms`. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<string>;
  /** Sends `signal` (no wait). */
  signal(signal: Deno.Signal): void;
  /** Sends `signal` (default SIGTERM), waits for the exit (SIGKILL after 10 s). */
  stop(signal?: Deno.Signal): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Spawns `program args` and reads stdout until the banner's "Ctrl-C to stop" line.
 * @throws {Error} with stderr when no banner comes within 15 s
 */
export async function spawnBanner(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<Started> {
  const child = new Deno.Command(program, {
    args,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: options.env ?? { NO_COLOR: "1" },
    clearEnv: options.clearEnv ?? false,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "", out = "";
  const errDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  while (!out.includes("Ctrl-C to stop\n")) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(killer);
      await errDone;
      await child.status;
      throw new Error(`no banner; stdout: ${out}\nstderr: ${err}`);
    }
    out += value;
  }
  clearTimeout(killer);
  const outDone = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      out += value;
    }
  })();
  const banner = out.slice(0, out.indexOf("Ctrl-C to stop\n") + 14).split("\n");
  const port = Number(/https?:\/\/\S+:(\d+)\//.exec(banner[0]!)?.[1]);
  const send = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // exited already
    }
  };
  return {
    pid: child.pid,
    banner,
    port,
    stderr: () => err,
    async waitForStderr(pattern, ms = 5000) {
      const until = Date.now() + ms;
      while (!pattern.test(err)) {
        if (Date.now() > until) throw new Error(`stderr never matched ${pattern}: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return err;
    },
    signal: send,
    async stop(signal: Deno.Signal = "SIGTERM") {
      send(signal);
      const force = setTimeout(() => send("SIGKILL"), 10_000);
      const status = await child.status;
      clearTimeout(force);
      await outDone;
      await errDone;
      return { code: status.code, stdout: out, stderr: err };
    },
  };
}

/** `deno run` with rawserve's permissions and `args`, from the repository's main.ts. */
export function denoRunArgs(args: string[]): string[] {
  return ["run", ...RUN_PERMISSIONS, `${REPO}main.ts`, ...args];
}
