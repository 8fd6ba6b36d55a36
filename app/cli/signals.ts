// The CLI's signals: SIGINT and SIGTERM stop the server (gracefully, then at once), SIGHUP
// reloads what can be reloaded. Each handler is a Disposable that removes its listeners.

import type { Server } from "../server.ts";
import type { CliConfig } from "./flags.ts";

/** Something SIGHUP reloads; returns the line that says how it went. */
export type Reload = () => string;

/**
 * SIGHUP: reload what can be reloaded (the certificate and key for new connections, the
 * access-log file), one line each; with nothing to reload, one line that says so. SIGHUP never
 * stops the server: its default action would end the process without draining, and a process
 * manager or a terminal may send it at any time.
 */
export function reloadOnHangup(reloads: Reload[]): Disposable {
  const onHangup = () => {
    if (reloads.length === 0) console.error("rawserve: SIGHUP: nothing to reload");
    for (const reload of reloads) console.error(`rawserve: ${reload()}`);
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  return { [Symbol.dispose]: () => Deno.removeSignalListener("SIGHUP", onHangup) };
}

/**
 * SIGINT or SIGTERM: graceful shutdown within `timeoutMs`, said at once when responses are in
 * flight (a download may hold it up to the end); a second one cuts every connection.
 * @param who the name its lines begin with (`rawserve`, `rawserve worker 2`)
 * @returns the exit code to use once the server has stopped, and the listeners' removal
 */
export function stopOnSignals(
  server: Server,
  config: CliConfig,
  who: string,
): Disposable & { readonly exitCode: number } {
  const timeoutMs = config.shutdownTimeoutMs;
  let signals = 0;
  let exitCode = 0;
  let delay: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (signal: Deno.Signal) => {
    if (++signals === 1 && signal === "SIGTERM" && config.drainDelayMs > 0) {
      // Health says 503 at once; the balancer stops sending, then the listener closes.
      server.announceShutdown();
      console.error(
        `${who}: stopping in ${config.drainDelayMs / 1000} s (--drain-delay); health answers 503`,
      );
      delay = setTimeout(() => stop(), config.drainDelayMs);
      return;
    }
    if (signals === 1 || delay !== undefined) stop();
    else force();
  };
  // A second signal during the delay starts the graceful shutdown at once; one after that cuts.
  const stop = () => {
    clearTimeout(delay);
    delay = undefined;
    signals = 1;
    drain(server, timeoutMs, who);
  };
  const force = () => {
    cutConnections(server, who);
    exitCode = 130;
  };
  const onInt = () => onSignal("SIGINT"), onTerm = () => onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return {
    get exitCode() {
      return exitCode;
    },
    [Symbol.dispose]() {
      clearTimeout(delay);
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    },
  };
}

/**
 * Graceful shutdown within `timeoutMs`, said at once when responses are in flight, and said again
 * if the timeout cuts some.
 */
function drain(server: Server, timeoutMs: number, who: string): void {
  const finished = server.shutdown(timeoutMs);
  // shutdown() closed the idle connections before its first await: the rest owe responses.
  const busy = server.connectionCount;
  if (busy > 0) {
    console.error(
      `${who}: stopping: waiting up to ${timeoutMs / 1000} s for ${busy} ${
        busy === 1 ? "response" : "responses"
      } (Ctrl-C again to stop now)`,
    );
  }
  finished.then((cut) => {
    if (cut > 0) {
      console.error(`${who}: shutdown timeout reached; cut ${cut} connection(s) with responses in flight`);
    }
  });
}

/** A forced stop: every connection cut at once, said with how many were open. */
function cutConnections(server: Server, who: string): void {
  const open = server.connectionCount;
  if (open > 0) console.error(`${who}: forced exit; cut ${open} open connection(s)`);
  server[Symbol.dispose]();
}
