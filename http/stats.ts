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
export function countError(stats: ConnectionStats, kind: string): void {
  stats.errors[kind] = (stats.errors[kind] ?? 0) + 1;
}
