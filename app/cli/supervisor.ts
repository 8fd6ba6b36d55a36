// --workers N: N processes, each with its own SO_REUSEPORT listening socket and reactor (one
// isolate per core, nothing shared). The parent reserves the port, starts the workers, forwards
// SIGINT/SIGTERM, and restarts a worker that dies, with a back-off if it keeps dying.

import { listenTcp, lockAbstractName } from "../../ffi/socket.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { EADDRINUSE } from "../../ffi/errno_numbers.ts";
import { GROUP_DIR_ENV, GROUP_SIZE_ENV } from "../operator/worker_group.ts";

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
  /** Variables added to every worker's environment (never a secret: /proc/PID/environ shows them). */
  env?: Record<string, string>;
  /**
   * Bytes written to each worker's stdin as it starts, then closed (TLS session-ticket keys);
   * asked for at each start, so a restarted worker gets the state of the moment.
   */
  input?: () => Uint8Array;
  /** Signals passed on to every worker as they come (SIGHUP: each reloads what it can). */
  forward?: Deno.Signal[];
  /** Prints the start-up line once the port is known. */
  announce: (host: string, port: number) => void;
}

/**
 * The permissions rawserve runs with (the same as `deno task start` and `deno task install`).
 * rawserve itself never uses Deno's networking (its sockets are system calls through FFI);
 * --allow-net is there for an --app's fetch().
 */
export const RUN_PERMISSIONS = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-net",
];

/** The command that runs this program again: the compiled binary, or deno run main.ts. */
function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", ...RUN_PERMISSIONS, Deno.mainModule];
}

/** Removes `--workers N` / `--workers=N` and any `--port` or `-p`, which the supervisor decides. */
function workerArgs(args: string[], port: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--workers" || a === "--port" || a === "-p") i++;
    else if (!a.startsWith("--workers=") && !a.startsWith("--port=") && !/^-p./.test(a)) out.push(a);
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
 * Reserves the port for a new group of workers, failing as a single server would when it is
 * taken. SO_REUSEPORT lets any socket of the same user with the option join a port, so without
 * care a second `--workers` instance would join the first and the kernel would split clients
 * between two sites. Three steps, measured against this kernel's bind rules:
 * 1. a probe bound with SO_REUSEADDR but without SO_REUSEPORT: EADDRINUSE when anything listens
 *    there, a reuseport group included, while TIME_WAIT leftovers of an earlier run are allowed;
 *    it also picks the port when 0 was asked;
 * 2. a lock named after the address in the abstract Unix namespace, for the second between
 *    a group's reservation and its workers' listen(), when the probe cannot see it yet;
 * 3. the reservation proper: bound with SO_REUSEPORT, not listening, so it fixes the port for the
 *    workers without taking connections.
 * @returns the lock and the reservation; dispose both when the group stops
 * @throws {SyscallError} EADDRINUSE with the same hint as a single server
 */
function reservePort(host: string, port: number) {
  using probe = listenTcp({ host, port, bindOnly: true });
  const lock = lockAbstractName(`rawserve ${probe.host} ${probe.port}`);
  if (!lock) {
    throw new SyscallError(
      "bind",
      EADDRINUSE,
      `Cannot listen on ${formatAuthority(probe.host, probe.port)}`,
      {
        host: probe.host,
        port: probe.port,
        hint: `another rawserve is starting on port ${probe.port}; choose another with --port`,
      },
    );
  }
  try {
    const reservation = listenTcp({ host, port: probe.port, reusePort: true, bindOnly: true });
    return { lock, reservation };
  } catch (e) {
    lock[Symbol.dispose]();
    throw e;
  }
}

/** The worker processes: started, restarted when they die, stopped together. */
class WorkerGroup {
  #command: string;
  #args: string[];
  #env: Record<string, string>;
  #input: (() => Uint8Array) | null;
  #children = new Map<number, Deno.ChildProcess>();
  #stopping = false;

  /**
   * @param argv the command that runs one worker (the same for every worker)
   * @param env variables for every worker's environment
   * @param input what each worker reads on its stdin, if anything
   */
  constructor(argv: string[], env: Record<string, string> = {}, input: (() => Uint8Array) | null = null) {
    this.#command = argv[0]!;
    this.#args = argv.slice(1);
    this.#env = env;
    this.#input = input;
  }

  /** Starts worker `index`; resolves true once it prints its start-up line (it listens). */
  start(index: number): Promise<boolean> {
    const started = performance.now();
    const child = new Deno.Command(this.#command, {
      args: this.#args,
      env: { ...this.#env, [WORKER_ENV]: String(index) },
      stdin: this.#input ? "piped" : "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#children.set(index, child);
    if (this.#input) {
      const writer = child.stdin.getWriter();
      // A worker that dies before reading is restarted below and reads again.
      writer.write(this.#input()).then(() => writer.close()).catch(() => {});
    }
    child.status.then((status) => {
      this.#children.delete(index);
      if (this.#stopping) return;
      const quick = performance.now() - started < CRASH_WINDOW_MS;
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      console.error(
        `rawserve: worker ${index} (pid ${child.pid}) exited with ${how}; restarting` +
          (quick ? ` in ${RESTART_BACKOFF_MS / 1000} s` : ""),
      );
      setTimeout(() => {
        if (!this.#stopping) this.start(index);
      }, quick ? RESTART_BACKOFF_MS : 0);
    });
    return forwardOutput(child.stdout);
  }

  /** Sends `signal` to every worker, which keep running (SIGHUP). */
  signal(signal: Deno.Signal): void {
    for (const child of this.#children.values()) {
      try {
        child.kill(signal);
      } catch {
        // exiting; it is restarted with the current files anyway
      }
    }
  }

  /**
   * Sends `signal` to every worker; nothing is restarted from now on.
   * @returns whether they all exited successfully, once they have
   */
  async stop(signal: Deno.Signal): Promise<boolean> {
    this.#stopping = true;
    const children = [...this.#children.values()];
    for (const child of children) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
    const statuses = await Promise.all(children.map((c) => c.status));
    return statuses.every((s) => s.success);
  }
}

/**
 * Listens for SIGINT and SIGTERM until disposed: `first` resolves at the first one; a second one
 * kills the workers at once.
 */
function listenForSignals(group: WorkerGroup): Disposable & { first: Promise<Deno.Signal> } {
  const { promise, resolve } = Promise.withResolvers<Deno.Signal>();
  let signals = 0;
  const on = (signal: Deno.Signal) => () => {
    if (++signals > 1) group.stop("SIGKILL");
    resolve(signal);
  };
  const onInt = on("SIGINT"), onTerm = on("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return {
    first: promise,
    [Symbol.dispose]() {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    },
  };
}

/** Passes `signals` on to the workers until disposed. */
function forwardSignals(group: WorkerGroup, signals: Deno.Signal[]): Disposable {
  const handlers = signals.map((signal) => [signal, () => group.signal(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  return {
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}

/**
 * The directory where the workers publish their numbers for each other (one metrics view for
 * the group: app/operator/worker_group.ts). Private to this user (mode 0700, as
 * Deno.makeTempDirSync makes it), removed with what is in it when the group stops.
 */
function groupDirectory(): Disposable & { path: string } {
  const path = Deno.makeTempDirSync({ prefix: "rawserve-group-" });
  return {
    path,
    [Symbol.dispose]() {
      try {
        Deno.removeSync(path, { recursive: true });
      } catch {
        // already gone (a tmp cleaner); nothing else holds it
      }
    },
  };
}

/**
 * Runs the workers until a signal stops them.
 * @returns the exit code
 * @throws {SyscallError} when the port cannot be reserved (printed by the caller)
 */
export async function superviseWorkers(options: SupervisorOptions): Promise<number> {
  const { lock, reservation } = reservePort(options.host, options.port);
  using _lock = lock;
  using _reservation = reservation;
  using shared = groupDirectory();
  const group = new WorkerGroup(
    [...selfCommand(), ...workerArgs(options.args, reservation.port)],
    { ...options.env, [GROUP_DIR_ENV]: shared.path, [GROUP_SIZE_ENV]: String(options.workers) },
    options.input ?? null,
  );
  const started = await Promise.all(Array.from({ length: options.workers }, (_, i) => group.start(i)));
  if (started.includes(false)) {
    // A worker that cannot start (its one-line error is above) will not start on a retry either.
    await group.stop("SIGTERM");
    return 1;
  }
  // Listeners before the announcement: whoever reads it may signal at once.
  using signals = listenForSignals(group); // until the workers are gone: a second signal kills
  using _forwarded = forwardSignals(group, options.forward ?? []);
  options.announce(reservation.host, reservation.port);
  return (await group.stop(await signals.first)) ? 0 : 1;
}
