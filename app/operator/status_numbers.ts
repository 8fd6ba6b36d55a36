// How the status page writes numbers: counts with thousands separators, sizes in binary units,
// ages and durations in the largest fitting units; a value not known is a dash.

import { formatBytes } from "../../http/format.ts";

/** Made at first use (the first Intl object costs ~10 ms of start-up otherwise). */
let count: Intl.NumberFormat | null = null;

/** A count with thousands separators, or – when unknown. */
export function n(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : (count ??= new Intl.NumberFormat("en")).format(value);
}

/** A size in binary units, or – when unknown. */
export function bytes(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : formatBytes(value);
}

/** `850 ms`, `12 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h` */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** `100 µs`, `2.5 ms`, `1 s` for a bucket bound in seconds. */
export function formatSeconds(s: number): string {
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${+(s * 1000).toFixed(2)} ms`;
  return `${s} s`;
}
