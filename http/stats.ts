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
  /** Failures of the server (a 5xx answer, a stream that broke, a timeout...), by kind. */
  errors: Record<string, number>;
  /**
   * Clients that left before their answer was all sent (ECONNRESET, EPIPE, a FIN while the
   * application was still answering), by how: their choice, not the server's failure.
   */
  clientsLeft: Record<string, number>;
}

/**
 * Logs an application handler's failure (the stack when there is one): the one wording for every
 * protocol and for serve()'s default error answer.
 */
export function logHandlerFailure(error: unknown): void {
  console.error(`Handler failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
}

/** Adds one to the error counter `kind`. */
export function countError(stats: ConnectionStats, kind: string): void {
  stats.errors[kind] = (stats.errors[kind] ?? 0) + 1;
}

/** Adds one to the counter of clients that left, by `how` (e.g. `ECONNRESET`). */
export function countClientLeft(stats: ConnectionStats, how: string): void {
  stats.clientsLeft[how] = (stats.clientsLeft[how] ?? 0) + 1;
}
