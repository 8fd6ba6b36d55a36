// --workers N: N processes, each with its own SO_REUSEPORT listening socket and reactor (one
// isolate per core, nothing shared). The parent reserves the port, starts the workers, forwards
// SIGINT/SIGTERM, and restarts a worker that dies, with a back-off if it keeps dying.

import { listenTcp } from "./ffi/socket.ts";

/** Environment variable that marks a worker process (its value is the worker's index). */
export const WORKER_ENV = "RAWSERVE_WORKER";
/** A worker that dies sooner than this after starting is restarted only after a pause... */
const CRASH_WINDOW_MS = 1000;
/** ...of this long, so a worker that cannot start does not spin the CPU. */
const RESTART_BACKOFF_MS = 1000;

/** What the supervisor needs to know. */
export interface SupervisorOptions {
  workers: number;
  host: string;
  port: number;
  /** The command-line arguments, passed on to every worker. */
  args: string[];
  quiet: boolean;
  /** Prints the start-up line once the port is known. */
  announce: (host: string, port: number) => void;
}

/** The permissions rawserve runs with (the same as `deno task start`). */
export const RUN_PERMISSIONS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env", "--allow-run"];

/** The command that runs this program again: the compiled binary, or deno run main.ts. */
function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", ...RUN_PERMISSIONS, Deno.mainModule];
}

/** Removes `--workers N` / `--workers=N` and any `--port`, which the supervisor decides. */
function workerArgs(args: string[], port: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--workers" || a === "--port") i++;
    else if (!a.startsWith("--workers=") && !a.startsWith("--port=")) out.push(a);
  }
  return [...out, "--port", String(port)];
}

/**
 * Copies a worker's stdout to ours, except its start-up line, which only tells us it is
 * listening (the supervisor prints the one line users see).
 * @returns true at the start-up line, false when the worker exits without one
 */
function forwardOutput(stdout: ReadableStream<Uint8Array>): Promise<boolean> {
  const { promise, resolve } = Promise.withResolvers<boolean>();
  (async () => {
    let seen = false, pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of stdout) {
      if (seen) {
        Deno.stdout.writeSync(chunk); // access-log batches: whole lines, one write each
        continue;
      }
      pending += decoder.decode(chunk, { stream: true });
      const newline = pending.indexOf("\n");
      if (newline < 0) continue;
      seen = true;
      resolve(true);
      const rest = pending.slice(newline + 1);
      if (rest) Deno.stdout.writeSync(new TextEncoder().encode(rest));
    }
    resolve(false);
  })();
  return promise;
}

/**
 * Runs the workers until a signal stops them.
 * @returns the exit code
 * @throws {SyscallError} when the port cannot be reserved (printed by the caller)
 */
export async function superviseWorkers(options: SupervisorOptions): Promise<number> {
  // Bound but not listening: fixes the port (also when 0 was asked) without taking connections.
  using reservation = listenTcp({ host: options.host, port: options.port, reusePort: true, bindOnly: true });
  const [cmd, ...base] = selfCommand();
  const args = [...base, ...workerArgs(options.args, reservation.port)];
  const children = new Map<number, Deno.ChildProcess>();
  let stopping = false;
  let signals = 0;

  /** Starts worker `index`; resolves true once it prints its start-up line (it listens). */
  const start = (index: number): Promise<boolean> => {
    const started = performance.now();
    const child = new Deno.Command(cmd!, {
      args,
      env: { [WORKER_ENV]: String(index) },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    children.set(index, child);
    const ready = forwardOutput(child.stdout);
    child.status.then((status) => {
      children.delete(index);
      if (stopping) return;
      const quick = performance.now() - started < CRASH_WINDOW_MS;
      console.error(
        `rawserve: worker ${index} (pid ${child.pid}) exited with ${
          status.signal ? `signal ${status.signal}` : `code ${status.code}`
        }; restarting${quick ? ` in ${RESTART_BACKOFF_MS / 1000} s` : ""}`,
      );
      setTimeout(() => {
        if (!stopping) start(index);
      }, quick ? RESTART_BACKOFF_MS : 0);
    });
    return ready;
  };

  const started = await Promise.all(Array.from({ length: options.workers }, (_, i) => start(i)));
  if (started.includes(false)) {
    // A worker that cannot start (its one-line error is above) will not start on a retry either.
    stopping = true;
    for (const child of children.values()) child.kill("SIGTERM");
    await Promise.all([...children.values()].map((c) => c.status));
    return 1;
  }
  options.announce(reservation.host, reservation.port);

  const done = Promise.withResolvers<void>();
  const onSignal = (signal: Deno.Signal) => () => {
    signals++;
    stopping = true;
    for (const child of children.values()) {
      try {
        child.kill(signals > 1 ? "SIGKILL" : signal);
      } catch {
        // already gone
      }
    }
    done.resolve();
  };
  const onInt = onSignal("SIGINT"), onTerm = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  await done.promise;
  const statuses = await Promise.all([...children.values()].map((c) => c.status));
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return statuses.every((s) => s.success) ? 0 : 1;
}
