// rawserve's command line: flags -> a supervisor of worker processes, or one server -> serve
// until a signal. A user's mistake (bad flag, port in use, missing directory) gets one line and
// an exit code: 2 for usage errors, 1 for everything that fails at start-up.

// First, before any other module is evaluated: another platform gets one line, nothing loaded.
import "./app/cli/platform_gate.ts";
import { StartupError, SyscallError } from "./ffi/errno.ts";
import { withFlagHint } from "./app/cli/messages.ts";
import { type CliConfig, parseCli, usage, UsageError, VERSION } from "./app/cli/flags.ts";
import { bannerLines, printTlsWarnings, runServer } from "./app/cli/run.ts";
import { commandName, startDirectory } from "./app/cli/invocation.ts";
import { createStaticFs } from "./app/site/static_fs.ts";
import { superviseWorkers, WORKER_ENV } from "./app/cli/supervisor.ts";
import { plainHttpWarning, readAuthFile } from "./app/cli/auth.ts";

/** Runs the command line; resolves with the process exit code. */
async function main(args: string[]): Promise<number> {
  // Paths on the command line are the user's: under `deno task start` they typed them elsewhere.
  const start = startDirectory();
  try {
    if (start !== Deno.cwd()) Deno.chdir(start);
  } catch (e) {
    console.error(
      `rawserve: Cannot change to ${start}, where the command was started: ${
        e instanceof Error ? e.message : e
      }`,
    );
    return 1;
  }
  let config;
  try {
    config = parseCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`rawserve: ${e.message}`);
    return 2;
  }
  if (config === "help" || config === "version") {
    console.log(config === "help" ? usage(commandName()) : `rawserve ${VERSION}`);
    return 0;
  }
  const worker = Deno.env.get(WORKER_ENV) !== undefined;
  try {
    return config.workers > 1 && !worker ? await supervise(config, args) : await runServer(config, worker);
  } catch (e) {
    if (!(e instanceof SyscallError || e instanceof StartupError)) throw e;
    console.error(`rawserve: ${(e instanceof SyscallError ? withFlagHint(e) : e).message}`);
    return 1;
  }
}

/** How often the supervisor's ticket-key ring checks whether a period has ended (an hour: the
 * keys rotate every 12, and a check is one division). */
const RATCHET_CHECK_MS = 60 * 60 * 1000;

/**
 * `--workers N`: checks the root and the TLS pair once (instead of N workers failing on them),
 * then supervises. With TLS, the workers share session-ticket keys (so a ticket from one resumes
 * on another), which each reads from its stdin and which rotate in step; SIGHUP is passed on to
 * them in every case.
 */
async function supervise(config: CliConfig, args: string[]): Promise<number> {
  if (config.root !== null) {
    createStaticFs(config.root, config.followSymlinks, config.listing)[Symbol.dispose]();
  }
  if (config.auth) readAuthFile(config.auth.file); // its refusals once, not once per worker
  const warning = plainHttpWarning(config);
  if (warning) console.error(`rawserve: ${warning}`);
  const env: Record<string, string> = {};
  let input: (() => Uint8Array) | undefined;
  let ratchet: ReturnType<typeof setInterval> | undefined;
  if (config.tls) {
    const { TlsServer, TICKET_KEYS_ENV, TICKET_KEYS_ON_STDIN, TicketKeyRing } = await import(
      "./app/transport/tls.ts"
    );
    const keys = TicketKeyRing.fresh();
    using tls = new TlsServer(config.tls, keys);
    printTlsWarnings(tls.contexts.flatMap((c) => c.warnings()));
    // Each worker reads the ring's state of the moment on its stdin, never from its environment.
    env[TICKET_KEYS_ENV] = TICKET_KEYS_ON_STDIN;
    input = () => keys.toBytes();
    // The supervisor's ring moves on too, so its memory holds no secret older than the workers'.
    const timer = setInterval(() => keys.advance(), RATCHET_CHECK_MS);
    Deno.unrefTimer(timer);
    ratchet = timer;
  }
  try {
    return await superviseWorkers({
      workers: config.workers,
      host: config.host,
      port: config.port,
      args,
      env,
      ...(input ? { input } : {}),
      // Every worker answers SIGHUP (reloads, or says there is nothing to reload); none dies of it.
      forward: ["SIGHUP"],
      announce: (host, port) =>
        console.log(bannerLines(config, { host, port }, `${config.workers} workers`).join("\n")),
    });
  } finally {
    clearInterval(ratchet);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
