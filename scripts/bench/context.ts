// The state one benchmark run shares (Bench) and the servers it starts, with the bookkeeping on
// it: processes to stop on an interrupt, failures to report.

import type { TlsFixture } from "./certificates.ts";
import type { Options } from "./options.ts";
import type { ServerKind } from "./scenarios.ts";
import { progress } from "./util.ts";

/** Everything the scenarios share: options, fixtures and the processes to stop on exit. */
export interface Bench {
  opts: Options;
  repo: string;
  dir: string;
  site: string;
  lua: string;
  page: Uint8Array;
  pin: boolean;
  clkTck: number;
  nginx: boolean;
  /** Whether h2load (Debian's nghttp2-client) is on PATH: the h2 and https-page rows need it. */
  h2load: boolean;
  /** The floor server's binary, or null when it could not be built (no cc). */
  floor: string | null;
  /** The HTTPS scenarios' certificate (ECDSA P-256, CN and SAN localhost), or null without openssl. */
  tls: TlsFixture | null;
  live: Set<Server>;
  tools: Set<Deno.ChildProcess>; // wrk, strace, the idle10k re-run: killed on SIGINT
  notes: string[];
  failures: number;
  interrupted: boolean; // set on SIGINT/SIGTERM: the failures that follow are ours, not the servers'
}

/** A server process started for a scenario. */
export interface Server {
  kind: ServerKind;
  label: string;
  pid: number;
  port: number;
  exited: boolean;
  stderrText(): string;
  stop(): Promise<void>;
}

/** Registers a helper process so that an interrupt can stop it. */
export function track(bench: Bench, child: Deno.ChildProcess): Deno.ChildProcess {
  bench.tools.add(child);
  child.status.finally(() => bench.tools.delete(child));
  return child;
}

/** Records a failed step (unless the run is being interrupted) for the report and the exit code. */
export function fail(bench: Bench, message: string): void {
  if (bench.interrupted) return;
  bench.failures++;
  bench.notes.push(message);
  progress(`FAILED ${message}`);
}
