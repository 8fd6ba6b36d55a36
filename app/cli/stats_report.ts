// Human-readable counters: sizes in binary units, rates with k/M suffixes, errors and clients
// that left by kind.

import { formatBytes } from "../../http/format.ts";
import type { Server } from "../server.ts";
import { paint } from "./banner.ts";

/** The counters a report shows. */
export interface StatsSnapshot {
  accepted: number;
  open: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  errors: Record<string, number>;
  /** Clients that left before their answer was all sent, by how. */
  clientsLeft?: Record<string, number>;
  /** TLS handshakes done and resumed (HTTPS only). */
  tlsHandshakes?: number;
  tlsResumed?: number;
}

/** Made at first use (the first Intl object costs ~10 ms of start-up otherwise). */
let compact: Intl.NumberFormat | null = null;

/** `34.1k` (lower-case k as in req/s figures) */
export function formatCount(n: number): string {
  return (compact ??= new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 })).format(
    n,
  ).replace("K", "k");
}

/**
 * One line describing the counters, and rates since `previous` when given.
 * @param now the current counters
 * @param previous the counters `seconds` ago, for rates
 * @param seconds the interval between the two
 */
export function formatStats(now: StatsSnapshot, previous?: StatsSnapshot, seconds?: number): string {
  const parts = [
    `connections ${formatCount(now.accepted)} accepted, ${formatCount(now.open)} open`,
    `requests ${formatCount(now.requests)}`,
    `received ${formatBytes(now.bytesIn)}`,
    `sent ${formatBytes(now.bytesOut)}`,
  ];
  if (previous && seconds && seconds > 0) {
    const rate = (now.requests - previous.requests) / seconds;
    parts[1] += ` (${formatCount(rate)} req/s)`;
    parts[3] += ` (${formatBytes((now.bytesOut - previous.bytesOut) / seconds)}/s)`;
  }
  if (now.tlsHandshakes) {
    parts.push(
      `tls ${formatCount(now.tlsHandshakes)} handshakes (${formatCount(now.tlsResumed ?? 0)} resumed)`,
    );
  }
  const byKind = (counts: Record<string, number>) =>
    Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ");
  const left = now.clientsLeft ?? {};
  const leftTotal = Object.values(left).reduce((a, b) => a + b, 0);
  if (leftTotal > 0) parts.push(`clients left ${formatCount(leftTotal)} (${byKind(left)})`);
  parts.push(`errors ${byKind(now.errors) || "none"}`);
  return parts.join("; ");
}

/**
 * Prints the counters and their rates every `intervalMs` to stderr, until disposed.
 * @param who names a worker (`rawserve worker 2`); `rawserve` alone is left out
 */
export function reportStats(server: Server, intervalMs: number, who: string): Disposable {
  const snapshot = () => ({
    ...server.stats,
    errors: { ...server.stats.errors },
    clientsLeft: { ...server.stats.clientsLeft },
  });
  let previous = snapshot();
  const prefix = who === "rawserve" ? "" : `${who}: `;
  const timer = setInterval(() => {
    console.error(paint("dim", prefix + formatStats(server.stats, previous, intervalMs / 1000)));
    previous = snapshot();
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
