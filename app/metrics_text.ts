// A snapshot as Prometheus text exposition, format version 0.0.4 (prometheus/docs,
// exposition_formats.md): one HELP and one TYPE line per family before its samples, every
// family's samples in one uninterrupted group, label values escaped, the last line ending in
// "\n", and a histogram as cumulative `_bucket{le=...}` lines in increasing order ending with
// `le="+Inf"` (equal to `_count`), then `_sum` and `_count`.

import type { StatusSnapshot } from "./server_status.ts";

/** The Content-Type of format 0.0.4 (a missing version means "the newest", which may change). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [suffix: string, labels: Labels, value: number];

interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  samples: Sample[];
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

/** The families, in a fixed order, from one snapshot. */
function families(s: StatusSnapshot): Family[] {
  const c = s.counters;
  const h = s.responseSeconds;
  const histogram: Sample[] = [
    ...h.buckets.map((b) => ["_bucket", { le: b.le === "+Inf" ? "+Inf" : String(b.le) }, b.count] as const),
    ["_sum", {}, h.sum],
    ["_count", {}, h.count],
  ];
  const queue = s.listener;
  return [
    {
      name: "rawserve_requests_total",
      type: "counter",
      help: "Responses whose last byte the kernel accepted, by status code.",
      samples: byLabel("code", c.requestsByStatus),
    },
    {
      name: "rawserve_requests_started_total",
      type: "counter",
      help: "Requests whose head was read (counted before they are answered).",
      samples: one(c.requests),
    },
    {
      name: "rawserve_response_seconds",
      type: "histogram",
      help: "Time from a request's head arriving to its response's last byte accepted by the kernel " +
        "(reactor batch clock).",
      samples: h.buckets.length ? histogram : [],
    },
    {
      name: "rawserve_bytes_received_total",
      type: "counter",
      help: "Bytes read from clients.",
      samples: one(c.bytesIn),
    },
    {
      name: "rawserve_bytes_sent_total",
      type: "counter",
      help: "Bytes the kernel accepted for clients.",
      samples: one(c.bytesOut),
    },
    {
      name: "rawserve_connections_open",
      type: "gauge",
      help: "Open client connections.",
      samples: one(c.open),
    },
    {
      name: "rawserve_connections_accepted_total",
      type: "counter",
      help: "Connections accepted.",
      samples: one(c.accepted),
    },
    {
      name: "rawserve_errors_total",
      type: "counter",
      help: "Errors, by kind.",
      samples: byLabel("kind", c.errors),
    },
    {
      name: "rawserve_files_open",
      type: "gauge",
      help: "Files held open by responses.",
      samples: one(c.filesOpen),
    },
    {
      name: "rawserve_open_fds",
      type: "gauge",
      help: "Descriptors open in this process.",
      samples: s.process.openFds >= 0 ? one(s.process.openFds) : [],
    },
    {
      name: "rawserve_max_fds",
      type: "gauge",
      help: "The soft limit on open descriptors (RLIMIT_NOFILE).",
      samples: s.process.fdLimit >= 0 ? one(s.process.fdLimit) : [],
    },
    {
      name: "rawserve_accept_queue_length",
      type: "gauge",
      help: "Connections the kernel completed and accept() has not taken yet (TCP_INFO of the listener).",
      samples: queue ? one(queue.acceptQueue) : [],
    },
    {
      name: "rawserve_accept_queue_limit",
      type: "gauge",
      help: "The listener's backlog in force (listen() capped at net.core.somaxconn).",
      samples: queue ? one(queue.backlog) : [],
    },
    {
      name: "rawserve_draining",
      type: "gauge",
      help: "1 while shutting down gracefully.",
      samples: one(+s.draining),
    },
    {
      name: "rawserve_resident_memory_bytes",
      type: "gauge",
      help: "Resident set size.",
      samples: one(s.process.rssBytes),
    },
    {
      name: "rawserve_start_time_seconds",
      type: "gauge",
      help: "Start time of the process, Unix seconds.",
      samples: one(s.process.startTimeS),
    },
    {
      name: "rawserve_reactor_batches_total",
      type: "counter",
      help: "Batches of ready descriptors the reactor dispatched.",
      samples: one(s.reactor.batches),
    },
    {
      name: "rawserve_reactor_polls_total",
      type: "counter",
      help: "Non-blocking epoll_wait calls.",
      samples: one(s.reactor.waits),
    },
    {
      name: "rawserve_reactor_blocking_waits_total",
      type: "counter",
      help: "Blocking epoll_wait calls (the reactor was idle).",
      samples: one(s.reactor.blockingWaits),
    },
    {
      name: "rawserve_reactor_yields_total",
      type: "counter",
      help: "Turns given to Deno's event loop.",
      samples: one(s.reactor.yields),
    },
    {
      name: "rawserve_reactor_spin_budget",
      type: "gauge",
      help: "Empty polls the reactor spins before it blocks, as adapted now.",
      samples: one(s.reactor.spinBudget),
    },
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
