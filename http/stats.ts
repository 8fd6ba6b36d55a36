// Counters the connections of one server share; the HTTP layer only adds to them.

/** Counters shared by the connections of one server. */
export interface ConnectionStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /** Files held open by responses (each is a descriptor beside the connection's own). */
  filesOpen: number;
  /** Handlers' answers that are still promises (the handler awaits something off the socket). */
  answersAwaited: number;
  errors: Record<string, number>;
}

/** Adds one to the error counter `kind`. */
/**
 * Logs an application handler's failure (the stack when there is one): the one wording for every
 * protocol and for serve()'s default error answer.
 */
export function logHandlerFailure(error: unknown): void {
  console.error(`Handler failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
}

export function countError(stats: ConnectionStats, kind: string): void {
  stats.errors[kind] = (stats.errors[kind] ?? 0) + 1;
}
