// How rawserve was started: the command the user typed (for --help) and the directory their
// paths are relative to. `deno task start` runs in rawserve's own folder; the folder the user
// typed it in is INIT_CWD (as npm sets it), so a path like `docs` means their `docs`.

import { readProcText } from "../../ffi/procfs.ts";

/** rawserve's own folder (main.ts's), or null for a compiled binary. */
function projectDirectory(): string | null {
  if (Deno.build.standalone || !Deno.mainModule.startsWith("file:")) return null;
  const main = decodeURIComponent(new URL(Deno.mainModule).pathname);
  return main.slice(0, main.lastIndexOf("/")) || "/";
}

/**
 * Whether this is `deno task ...` run from rawserve's deno.json: the task runs in rawserve's
 * folder with INIT_CWD set, as a child of the `deno task` process. INIT_CWD alone is not
 * enough, being inherited: an npm script that runs an installed `rawserve`, or `deno task test`
 * that runs main.ts in a test, pass it on, and there the working directory is meant.
 */
function underOwnTask(): boolean {
  // Decided once, at the first call: main.ts changes to the start directory after it.
  if (ownTask === null) {
    const init = Deno.env.get("INIT_CWD");
    ownTask = init !== undefined && init !== "" && Deno.cwd() === projectDirectory() && parentIsDenoTask();
  }
  return ownTask;
}
let ownTask: boolean | null = null;

/** Whether the parent process is `deno task` (its argv[1]), from /proc (proc(5): stat, cmdline). */
function parentIsDenoTask(): boolean {
  const stat = readProcText("/proc/self/stat") ?? "";
  // The command name in parentheses may hold spaces: the fields after its last ")" are
  // state, then ppid.
  const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
  const argv = readProcText(`/proc/${ppid}/cmdline`)?.split("\0") ?? [];
  return argv[1] === "task";
}

/**
 * The directory the user started rawserve in: INIT_CWD under rawserve's own `deno task`, else
 * the working directory.
 */
export function startDirectory(): string {
  return underOwnTask() ? Deno.env.get("INIT_CWD")! : Deno.cwd();
}

/** The `deno install` layout: the launcher runs `deno run … --config ROOT/bin/.NAME/deno.json`. */
const INSTALLED_CONFIG = /\/bin\/\.([^/]+)\/deno\.json$/;

/**
 * The command as the user ran it, for the usage line: `rawserve` once installed (or compiled
 * under that name), `deno task start`, or `deno run … main.ts`.
 */
export function commandName(): string {
  if (Deno.build.standalone) {
    const exe = Deno.execPath();
    return exe.slice(exe.lastIndexOf("/") + 1);
  }
  if (underOwnTask()) return "deno task start";
  // The arguments Deno itself was given (before the script's own), NUL-separated.
  const argv = readProcText("/proc/self/cmdline")?.split("\0") ?? [];
  const config = argv.findIndex((arg, i) => argv[i - 1] === "--config" && INSTALLED_CONFIG.test(arg));
  if (config >= 0) return INSTALLED_CONFIG.exec(argv[config]!)![1]!;
  const main = argv.findIndex((arg) => arg === Deno.mainModule || arg.endsWith("main.ts"));
  return main > 0 ? ["deno", ...argv.slice(1, main + 1)].join(" ") : "deno run main.ts";
}
