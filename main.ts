// rawserve's command line: flags -> a supervisor of worker processes, or one server -> serve
// until a signal. A user's mistake (bad flag, port in use, missing directory) gets one line and
// an exit code: 2 for usage errors, 1 for everything that fails at start-up.

import { StartupError, SyscallError } from "./ffi/errno.ts";
import { withFlagHint } from "./app/cli/messages.ts";
import { type CliConfig, parseCli, USAGE, UsageError, VERSION } from "./app/cli/flags.ts";
import { describeSite, formatUrl, paint, runServer } from "./app/cli/run.ts";
import { createStaticFs } from "./app/site/static_fs.ts";
import { superviseWorkers, WORKER_ENV } from "./app/cli/supervisor.ts";

/** Runs the command line; resolves with the process exit code. */
async function main(args: string[]): Promise<number> {
  let config;
  try {
    config = parseCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`rawserve: ${e.message}`);
    return 2;
  }
  if (config === "help" || config === "version") {
    console.log(config === "help" ? USAGE : `rawserve ${VERSION}`);
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

/**
 * `--workers N`: checks the root and the TLS pair once (instead of N workers failing on them),
 * then supervises. With TLS, the workers share session-ticket keys (so a ticket from one resumes
 * on another) and SIGHUP is passed on to them.
 */
async function supervise(config: CliConfig, args: string[]): Promise<number> {
  if (config.root !== null) {
    createStaticFs(config.root, config.followSymlinks, config.listing)[Symbol.dispose]();
  }
  const env: Record<string, string> = {};
  if (config.tls) {
    const { TlsServer, TICKET_KEYS_ENV, newTicketKeys, ticketKeysHex } = await import(
      "./app/transport/tls.ts"
    );
    const keys = newTicketKeys();
    using tls = new TlsServer(config.tls, keys);
    for (const warning of tls.context.warnings()) console.error(`rawserve: warning: ${warning}`);
    env[TICKET_KEYS_ENV] = ticketKeysHex(keys);
  }
  return await superviseWorkers({
    workers: config.workers,
    host: config.host,
    port: config.port,
    args,
    env,
    forward: config.tls ? ["SIGHUP"] : [],
    announce: (host, port) => {
      const url = paint("bold", formatUrl(host, port, config.tls !== null));
      console.log(`rawserve listening on ${url} (${describeSite(config)}, ${config.workers} workers)`);
    },
  });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
