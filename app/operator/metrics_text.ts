// A snapshot as Prometheus text exposition, format version 0.0.4 (prometheus/docs,
// exposition_formats.md): one HELP and one TYPE line per family before its samples, every
// family's samples in one uninterrupted group, label values escaped, the last line ending in
// "\n", and a histogram as cumulative `_bucket{le=...}` lines in increasing order ending with
// `le="+Inf"` (equal to `_count`), then `_sum` and `_count`.

import type { StatusSnapshot } from "./server_status.ts";
import type { GroupMember } from "./worker_group.ts";

/** The Content-Type of format 0.0.4 (a missing version means "the newest", which may change). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [suffix: string, labels: Labels, value: number];

/**
 * How a --workers group's series add up into the group's own (no `worker` label): counts and
 * sizes add, the start time is the earliest, draining is anyone's; a per-process setting
 * (the descriptor limit, the spin budget) has no group value.
 */
type Total = "sum" | "min" | "max" | "none";

interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  samples: Sample[];
  total: Total;
}

/** Label values escape backslash, double quote and line feed as `\\`, `\"` and `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and line feed (a double quote stays as it is). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Values as Go's strconv.ParseFloat reads them: `+Inf`, `-Inf`, `NaN`, or a JS number. */
function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

function one(value: number): Sample[] {
  return [["", {}, value]];
}

function byLabel(label: string, counts: Record<string, number>): Sample[] {
  return Object.keys(counts).sort().map((key) => ["", { [label]: key }, counts[key]!] as const);
}

/** One family, with its samples. */
function family(
  name: string,
  type: Family["type"],
  help: string,
  samples: Sample[],
  total: Total = "sum",
): Family {
  return { name, type, help, samples, total };
}

/** The families, in a fixed order, from one snapshot. */
function families(s: StatusSnapshot): Family[] {
  return [...httpFamilies(s), ...webSocketFamilies(s), ...processFamilies(s), ...reactorFamilies(s)];
}

/** WebSockets: open, opened, messages and bytes by direction, and how they ended. */
function webSocketFamilies(s: StatusSnapshot): Family[] {
  const w = s.webSockets.totals;
  const way = (received: number, sent: number): Sample[] => [
    ["", { direction: "received" }, received],
    ["", { direction: "sent" }, sent],
  ];
  return [
    family("rawserve_websockets_open", "gauge", "Open WebSocket connections.", one(w.open)),
    family(
      "rawserve_websockets_opened_total",
      "counter",
      "WebSocket connections opened (101 sent).",
      one(w.opened),
    ),
    family(
      "rawserve_websocket_messages_total",
      "counter",
      "WebSocket messages, by direction.",
      way(w.messagesIn, w.messagesOut),
    ),
    family(
      "rawserve_websocket_bytes_total",
      "counter",
      "WebSocket bytes on the wire after the 101 (frames), by direction.",
      way(w.bytesIn, w.bytesOut),
    ),
    family(
      "rawserve_websocket_closes_total",
      "counter",
      "WebSocket connections ended, by the close code the application heard (1006: no close frame).",
      byLabel("code", w.closes),
    ),
  ];
}

/** Requests, responses, bytes, connections and errors. */
function httpFamilies(s: StatusSnapshot): Family[] {
  const c = s.counters;
  const h = s.responseSeconds;
  const histogram: Sample[] = [
    ...h.buckets.map((b) => ["_bucket", { le: b.le === "+Inf" ? "+Inf" : String(b.le) }, b.count] as const),
    ["_sum", {}, h.sum],
    ["_count", {}, h.count],
  ];
  return [
    family(
      "rawserve_requests_total",
      "counter",
      "Responses whose last byte the kernel accepted, by status code.",
      byLabel("code", c.requestsByStatus),
    ),
    family(
      "rawserve_requests_by_protocol_total",
      "counter",
      "Responses whose last byte the kernel accepted, by protocol (h1: HTTP/1.1; h2: HTTP/2, TLS or cleartext).",
      byLabel("protocol", c.requestsByProtocol),
    ),
    family(
      "rawserve_requests_started_total",
      "counter",
      "Requests whose head was read (counted before they are answered).",
      one(c.requests),
    ),
    family(
      "rawserve_response_seconds",
      "histogram",
      "Time from a request's head arriving to its response's last byte accepted by the kernel (reactor batch clock).",
      h.buckets.length ? histogram : [],
    ),
    family("rawserve_bytes_received_total", "counter", "Bytes read from clients.", one(c.bytesIn)),
    family("rawserve_bytes_sent_total", "counter", "Bytes the kernel accepted for clients.", one(c.bytesOut)),
    family("rawserve_connections_open", "gauge", "Open client connections.", one(c.open)),
    family("rawserve_connections_accepted_total", "counter", "Connections accepted.", one(c.accepted)),
    family(
      "rawserve_errors_total",
      "counter",
      "Server failures (5xx answers, timeouts, ...), by kind.",
      byLabel("kind", c.errors),
    ),
    family(
      "rawserve_clients_left_total",
      "counter",
      "Clients that left before their answer was all sent, by how.",
      byLabel("how", c.clientsLeft),
    ),
  ];
}

/** Files and descriptors, the listener's queue, drain state and memory. */
function processFamilies(s: StatusSnapshot): Family[] {
  const queue = s.listener;
  return [
    family("rawserve_files_open", "gauge", "Files held open by responses.", one(s.counters.filesOpen)),
    family("rawserve_files_kept", "gauge", "Files kept open between responses.", one(s.counters.filesKept)),
    family(
      "rawserve_open_fds",
      "gauge",
      "Descriptors open in this process.",
      s.process.openFds >= 0 ? one(s.process.openFds) : [],
    ),
    family(
      "rawserve_max_fds",
      "gauge",
      "The soft limit on open descriptors (RLIMIT_NOFILE).",
      s.process.fdLimit >= 0 ? one(s.process.fdLimit) : [],
      "none",
    ),
    family(
      "rawserve_accept_queue_length",
      "gauge",
      "Connections the kernel completed and accept() has not taken yet (TCP_INFO of the listener).",
      queue ? one(queue.acceptQueue) : [],
    ),
    family(
      "rawserve_accept_queue_limit",
      "gauge",
      "The listener's backlog in force (listen() capped at net.core.somaxconn).",
      queue ? one(queue.backlog) : [],
    ),
    family("rawserve_draining", "gauge", "1 while shutting down gracefully.", one(+s.draining), "max"),
    family("rawserve_resident_memory_bytes", "gauge", "Resident set size.", one(s.process.rssBytes)),
    family(
      "rawserve_start_time_seconds",
      "gauge",
      "Start time of the process, Unix seconds.",
      one(s.process.startTimeS),
      "min",
    ),
  ];
}

/** The reactor's counters. */
function reactorFamilies(s: StatusSnapshot): Family[] {
  return [
    family(
      "rawserve_reactor_batches_total",
      "counter",
      "Batches of ready descriptors the reactor dispatched.",
      one(s.reactor.batches),
    ),
    family("rawserve_reactor_polls_total", "counter", "Non-blocking epoll_wait calls.", one(s.reactor.waits)),
    family(
      "rawserve_reactor_blocking_waits_total",
      "counter",
      "Blocking epoll_wait calls (the reactor was idle).",
      one(s.reactor.blockingWaits),
    ),
    family(
      "rawserve_reactor_yields_total",
      "counter",
      "Turns given to Deno's event loop.",
      one(s.reactor.yields),
    ),
    family(
      "rawserve_reactor_spin_budget",
      "gauge",
      "Empty polls the reactor spins before it blocks, as adapted now.",
      one(s.reactor.spinBudget),
      "none",
    ),
  ];
}

/**
 * The snapshot as Prometheus text. With --workers every sample carries `worker="N"`: each
 * worker answers for itself, and the label keeps two workers' counters from being read as one
 * series that goes backwards.
 */
export function renderMetrics(snapshot: StatusSnapshot): string {
  const base: Labels = snapshot.worker ? { worker: String(snapshot.worker.index) } : {};
  const lines: string[] = [];
  for (const family of families(snapshot)) {
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const [suffix, labels, value] of family.samples) {
      lines.push(`${family.name}${suffix}${formatLabels({ ...base, ...labels })} ${formatValue(value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** A family's header lines. */
function header(family: Family): string[] {
  return [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`];
}

function sampleLine(name: string, suffix: string, labels: Labels, value: number): string {
  return `${name}${suffix}${formatLabels(labels)} ${formatValue(value)}`;
}

/**
 * The group's samples of one family: the members' samples with the same suffix and labels
 * combined by the family's rule, in first-seen order (which keeps a histogram's buckets in
 * increasing order: every member has the same ones), other families' sorted by labels.
 */
function groupTotals(kind: Family, all: readonly Family[]): Sample[] {
  const merged = new Map<string, [string, Labels, number]>();
  for (const f of all) {
    for (const [suffix, labels, value] of f.samples) {
      const key = suffix + formatLabels(labels);
      const seen = merged.get(key);
      if (!seen) merged.set(key, [suffix, labels, value]);
      else if (kind.total === "sum") seen[2] += value;
      else if (kind.total === "min") seen[2] = Math.min(seen[2], value);
      else seen[2] = Math.max(seen[2], value);
    }
  }
  const out = [...merged.entries()];
  if (kind.type !== "histogram") out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return out.map(([, sample]) => sample);
}

/**
 * A --workers group's metrics, answered by whichever worker the scrape reached: each family
 * has the group's series first (no `worker` label: sums, or the earliest start, or whether any
 * drains), then every member's own series labelled `worker="N"`. Sum the unlabelled series, or
 * the labelled ones, never both. `rawserve_worker_snapshot_age_seconds` says how old each
 * member's numbers are (0 for the worker that answered; at most about PUBLISH_INTERVAL_MS for
 * the others while they run).
 * @param members the group's snapshots, by index (worker_group.ts)
 */
export function renderGroupMetrics(members: readonly GroupMember[]): string {
  const perMember = members.map((m) => families(m.snapshot));
  const lines: string[] = [];
  const first = perMember[0] ?? [];
  for (let i = 0; i < first.length; i++) {
    const kind = first[i]!;
    const all = perMember.map((fs) => fs[i]!);
    if (all.every((f) => f.samples.length === 0)) continue;
    lines.push(...header(kind));
    if (kind.total !== "none") {
      for (const [suffix, labels, value] of groupTotals(kind, all)) {
        lines.push(sampleLine(kind.name, suffix, labels, value));
      }
    }
    members.forEach((m, j) => {
      for (const [suffix, labels, value] of all[j]!.samples) {
        lines.push(sampleLine(kind.name, suffix, { worker: String(m.index), ...labels }, value));
      }
    });
  }
  const age = family(
    "rawserve_worker_snapshot_age_seconds",
    "gauge",
    "How old each worker's numbers in this answer are (0 for the worker that answered).",
    members.map((m) => ["", { worker: String(m.index) }, m.ageS] as const),
  );
  lines.push(...header(age), ...age.samples.map(([s, l, v]) => sampleLine(age.name, s, l, v)));
  return lines.join("\n") + "\n";
}
