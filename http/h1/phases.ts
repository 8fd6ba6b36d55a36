// What a connection waits for, and how long it may wait: each phase and its one deadline. The
// connection derives its phase from its facts in one place (Connection #settle) and arms the
// deadline of the phase it enters from this table.

/**
 * What a connection is waiting for:
 * - idle: the next request on a kept-alive connection (nothing owed, nothing buffered);
 * - head: the rest of a request head that has begun (or a new connection's first request);
 * - body: more of a request body (the deadline bounds the stall between reads);
 * - busy: a handler, a streamed response or a body's reader (no deadline of ours);
 * - writing: the client to take more output (the deadline bounds the stall between writes);
 * - linger: the client's FIN after our last response (RFC 9112 §9.6);
 * - closed.
 */
export type Phase = "idle" | "head" | "body" | "busy" | "writing" | "linger" | "closed";

/** The connection's limits that are deadlines, by the name of their option. */
export type Timeouts = "idleTimeoutMs" | "headerTimeoutMs" | "bodyTimeoutMs" | "writeTimeoutMs" | "lingerMs";

/** The deadline of each phase, or null for none. */
export const PHASE_TIMEOUT: { readonly [P in Phase]: Timeouts | null } = {
  idle: "idleTimeoutMs",
  head: "headerTimeoutMs",
  body: "bodyTimeoutMs",
  busy: null,
  writing: "writeTimeoutMs",
  linger: "lingerMs",
  closed: null,
};

/**
 * Whether entering `phase` again restarts its deadline: the head and idle deadlines belong to
 * one request each (a new request restarts them); the body and write deadlines restart on
 * progress instead (a read, a write), and the others never.
 */
export function restartsPerRequest(phase: Phase): boolean {
  return phase === "idle" || phase === "head";
}
