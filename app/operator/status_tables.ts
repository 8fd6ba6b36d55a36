// The status page's two tables, connections and WebSockets: each column with its header, a
// line saying what it shows, and its cell. Every string from outside (peer addresses,
// extensions, close codes) is escaped.

import { escapeHtml } from "../../http/format.ts";
import { TCP_INFINITE_SSTHRESH } from "../../ffi/socket_info.ts";
import type { ConnectionRow, StatusSnapshot, WebSocketRow } from "./server_status.ts";
import { bytes, formatAge, n } from "./status_numbers.ts";

/** The connection table's columns: header, its one-line meaning, and the cell. */
const COLUMNS: readonly [string, string, (r: ConnectionRow) => string][] = [
  ["fd", "The descriptor: this socket's slot in the process's file table.", (r) => String(r.fd)],
  [
    "peer",
    "Client address and port (getpeername), or the one a PROXY header named, with the balancer's after via.",
    (r) => escapeHtml(r.via ? `${r.peer} via ${r.via}` : r.peer),
  ],
  [
    "phase",
    "What rawserve waits for: head (a request), body, busy (the handler), writing (the client to read), idle " +
    "(keep-alive), linger (the client's FIN).",
    (r) => `<span class="ph ${escapeHtml(r.phase)}">${escapeHtml(r.phase)}</span>`,
  ],
  ["proto", "h1: HTTP/1.1; h2: HTTP/2 (many requests at once on one connection).", (r) => r.protocol],
  ["age", "Since accept().", (r) => formatAge(r.ageMs)],
  [
    "req",
    "Requests read on this connection (keep-alive reuses it; h2: streams opened).",
    (r) => n(r.requests),
  ],
  [
    "streams",
    "h2: streams open now, then the connection's flow-control windows in bytes: what we may still send ↑ " +
    "(the client grants it) and what the client may still send ↓ (we grant it as handlers read).",
    (r) =>
      r.streams
        ? `${n(r.streams.open)} <small>↑ ${bytes(r.streams.sendWindow)} ↓ ${
          bytes(r.streams.receiveWindow)
        }</small>`
        : "–",
  ],
  [
    "state",
    "TCP state (tcpi_state): ESTABLISHED while both sides talk, CLOSE_WAIT after the client's FIN.",
    (r) => escapeHtml(r.tcp?.state ?? "–"),
  ],
  [
    "rtt",
    "Smoothed round-trip time ± its variation, µs (tcpi_rtt, tcpi_rttvar); tens of µs on loopback.",
    (r) => r.tcp ? `${n(r.tcp.rttUs)} <small>± ${n(r.tcp.rttVarUs)}</small>` : "–",
  ],
  [
    "cwnd",
    "Congestion window: segments the kernel may have in flight unacknowledged (tcpi_snd_cwnd).",
    (r) => n(r.tcp?.cwnd),
  ],
  [
    "ssthresh",
    "Slow-start threshold: cwnd doubles each round trip below it; ∞ until the first loss.",
    (r) => r.tcp ? (r.tcp.ssthresh >= TCP_INFINITE_SSTHRESH ? "∞" : n(r.tcp.ssthresh)) : "–",
  ],
  ["unacked", "Segments sent and not yet acknowledged.", (r) => n(r.tcp?.unacked)],
  [
    "retrans",
    "Retransmission timeouts in a row now / segments retransmitted in all.",
    (r) => r.tcp ? `${r.tcp.retransmits} / ${n(r.tcp.totalRetrans)}` : "–",
  ],
  [
    "pmtu",
    "Path MTU and the largest segment we send (MSS), bytes.",
    (r) => r.tcp ? `${n(r.tcp.pmtu)} <small>/ ${n(r.tcp.mss)}</small>` : "–",
  ],
  ["rcv space", "The receive window the kernel's autotuning aims for.", (r) => bytes(r.tcp?.rcvSpace)],
  ["in", "Received and not yet read by rawserve (SIOCINQ).", (r) => bytes(r.queued.in)],
  [
    "out",
    "Written to the socket and not yet acknowledged by the client (SIOCOUTQ): grows when a client stops reading.",
    (r) => `<span class="${(r.queued.out ?? 0) > 0 ? "hot" : ""}">${bytes(r.queued.out)}</span>`,
  ],
  [
    "not sent",
    "Of those, bytes not even sent: the client's window is shut (tcpi_notsent_bytes).",
    (r) => bytes(r.tcp?.notsentBytes),
  ],
  [
    "ours",
    "Response bytes still in rawserve's own queue, waiting for room in the send buffer.",
    (r) => bytes(r.pendingBytes),
  ],
  [
    "buffers",
    "SO_SNDBUF / SO_RCVBUF: the most the kernel queues each way (it doubles what is asked, for bookkeeping).",
    (r) => `${bytes(r.buffers.snd)} <small>/ ${bytes(r.buffers.rcv)}</small>`,
  ],
];

/** The open connections, one row each, with what each column means. */
export function connectionsSection(s: StatusSnapshot): string {
  const c = s.connections;
  const head = COLUMNS.map(([name]) => `<th>${name}</th>`).join("");
  const body = c.rows.map((row) =>
    // One span per cell: on a phone each cell is a two-column grid (label, value).
    `<tr>${
      COLUMNS.map(([name, , cell]) => `<td data-label="${name}"><span>${cell(row)}</span></td>`).join("")
    }</tr>`
  ).join("");
  const shown = c.shown < c.total
    ? `the ${c.rows.length} shown are the oldest and those with the most requests, of ${n(c.total)}`
    : `${n(c.total)} open, this page's own included`;
  const legend = COLUMNS.map(([name, why]) =>
    `<div class="fact"><dt>${name}</dt><dd class="why">${why}</dd></div>`
  )
    .join("");
  return `<section class="card wide" id="connections"><h2>Connections</h2><p class="note">${shown}. Kernel facts from ` +
    `getsockopt(TCP_INFO), ioctl(SIOCINQ/SIOCOUTQ) and SO_SNDBUF/SO_RCVBUF, read now.</p>` +
    `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>` +
    `<details><summary>What the columns mean</summary><dl class="legend">${legend}</dl></details></section>`;
}

/** The WebSocket table's columns, as COLUMNS. */
const WS_COLUMNS: readonly [string, string, (r: WebSocketRow) => string][] = [
  ["fd", "The descriptor of its socket.", (r) => String(r.fd)],
  ["peer", "Client address and port (getpeername).", (r) => escapeHtml(r.peer)],
  [
    "phase",
    "open; closing (the close handshake under way); blocked: the client does not read what is sent.",
    (r) => `<span class="ph">${escapeHtml(r.phase)}</span>`,
  ],
  ["age", "Since the 101.", (r) => formatAge(r.ageMs)],
  [
    "msgs in / out",
    "Messages received and sent.",
    (r) => `${n(r.messagesIn)} <small>/ ${n(r.messagesOut)}</small>`,
  ],
  [
    "bytes in / out",
    "Frame bytes read and written.",
    (r) => `${bytes(r.bytesIn)} <small>/ ${bytes(r.bytesOut)}</small>`,
  ],
  ["extensions", "Negotiated Sec-WebSocket-Extensions.", (r) => escapeHtml(r.extensions || "none")],
  [
    "queued",
    "Bytes in rawserve's queue for this client (reading stops past 1 MiB; the client is closed past its limit).",
    (r) => `<span class="${r.queuedBytes > 0 ? "hot" : ""}">${bytes(r.queuedBytes)}</span>`,
  ],
];

/** The open WebSockets and their totals; nothing before the first. */
export function webSocketsSection(s: StatusSnapshot): string {
  const w = s.webSockets;
  if (w.totals.opened === 0) return "";
  const t = w.totals;
  const closes = Object.entries(t.closes).map(([code, count]) =>
    `<span class="chip">${escapeHtml(code)} × ${n(count)}</span>`
  ).join(" ");
  const body = w.rows.map((row) =>
    `<tr>${
      WS_COLUMNS.map(([name, , cell]) => `<td data-label="${name}"><span>${cell(row)}</span></td>`).join("")
    }</tr>`
  ).join("");
  const legend = WS_COLUMNS.map(([name, why]) =>
    `<div class="fact"><dt>${name}</dt><dd class="why">${why}</dd></div>`
  )
    .join("");
  return `<section class="card wide" id="websockets"><h2>WebSockets</h2><p class="note">${n(t.open)} open ` +
    `(${n(w.shown)} shown: the oldest and the busiest) · ${n(t.opened)} opened · messages ${
      n(t.messagesIn)
    } in, ` +
    `${n(t.messagesOut)} out · ${bytes(t.bytesIn)} in, ${bytes(t.bytesOut)} out · closed: ${
      closes || "none"
    }</p>` +
    `<div class="scroll"><table><thead><tr>${
      WS_COLUMNS.map(([name]) => `<th>${name}</th>`).join("")
    }</tr></thead><tbody>${body}</tbody></table></div>` +
    `<details><summary>What the columns mean</summary><dl class="legend">${legend}</dl></details></section>`;
}
