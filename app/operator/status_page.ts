// A snapshot as one self-contained HTML page: no external files, readable on a phone, and
// refreshing itself every two seconds (a small script swaps the page's body for a fresh one,
// so scrolling and the pause switch survive; without scripts a meta refresh does it). Every
// field has a one-line explanation of what the kernel or rawserve is holding there. Every
// string from outside (peer addresses, error kinds) is escaped.

import { escapeHtml, formatBytes } from "../../http/format.ts";
import { TCP_INFINITE_SSTHRESH } from "../../ffi/socket_info.ts";
import type { ConnectionRow, StatusSnapshot, WebSocketRow } from "./server_status.ts";

/** How often the page fetches itself again. */
export const REFRESH_MS = 2000;

/** Made at first use (the first Intl object costs ~10 ms of start-up otherwise). */
let count: Intl.NumberFormat | null = null;

/** Escapes text for HTML content and attribute values (http/format.ts, shared with http/). */

function n(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : (count ??= new Intl.NumberFormat("en")).format(value);
}

function bytes(value: number | null | undefined): string {
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
function formatSeconds(s: number): string {
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${+(s * 1000).toFixed(2)} ms`;
  return `${s} s`;
}

/** One fact: a name, its value, and a line saying what it is. */
function fact(name: string, value: string, why: string): string {
  return `<div class="fact"><dt>${name}</dt><dd class="v">${value}</dd><dd class="why">${why}</dd></div>`;
}

function card(title: string, body: string, note = ""): string {
  return `<section class="card"><h2>${title}</h2>${
    note ? `<p class="note">${note}</p>` : ""
  }<dl>${body}</dl></section>`;
}

function processCard(s: StatusSnapshot): string {
  const p = s.process;
  return card(
    "Process",
    fact(
      "resident memory",
      bytes(p.rssBytes),
      "RAM this process holds now (RSS): V8's heap, buffers, code.",
    ) +
      fact(
        "descriptors",
        `${n(p.openFds)} <small>of ${n(p.fdLimit)}</small>`,
        "Slots in the kernel's file table: every socket, file and pipe. rawserve stops accepting at " +
          "--max-connections or 256 short of the limit; at the limit accept() fails with EMFILE.",
      ) +
      fact("up", formatAge(p.uptimeS * 1000), "Since the process started."),
  );
}

function listenerCard(s: StatusSnapshot): string {
  const l = s.listener;
  if (!l) {
    return card(
      "Listener",
      fact("socket", "closed", "Draining: new connections are refused; connections in flight finish."),
    );
  }
  return card(
    "Listener",
    fact(
      "accept queue",
      `${n(l.acceptQueue)} <small>of ${n(l.backlog)}</small>`,
      "Connections whose handshake (and first bytes, TCP_DEFER_ACCEPT) the kernel completed and " +
        "accept() has not taken yet: TCP_INFO on the listening socket. When full, new clients' " +
        "handshakes are dropped and retried.",
    ) +
      fact(
        "connections",
        `${n(s.counters.open)} open <small>· ${n(s.counters.accepted)} accepted</small>`,
        "Sockets accept() returned, and those still open.",
      ),
  );
}

function countersCard(s: StatusSnapshot): string {
  const c = s.counters;
  const statuses = Object.entries(c.requestsByStatus)
    .map(([code, count]) => `<span class="chip s${code[0]}">${escapeHtml(code)} × ${n(count)}</span>`)
    .join(" ");
  const errors = Object.entries(c.errors)
    .map(([kind, count]) => `<span class="chip err">${escapeHtml(kind)} × ${n(count)}</span>`)
    .join(" ");
  const protocols = Object.entries(c.requestsByProtocol)
    .map(([name, count]) => `<span class="chip">${escapeHtml(name)} × ${n(count)}</span>`)
    .join(" ");
  const left = Object.entries(c.clientsLeft)
    .map(([how, count]) => `<span class="chip">${escapeHtml(how)} × ${n(count)}</span>`)
    .join(" ");
  return card(
    "Requests",
    fact("started", n(c.requests), "Request heads read, this request included.") +
      fact("answered", statuses || "none yet", "Responses whose last byte the kernel accepted, by status.") +
      fact(
        "protocol",
        protocols || "none yet",
        "The same responses by protocol: h1 is HTTP/1.1, h2 is HTTP/2 (ALPN over TLS, or h2c).",
      ) +
      fact("received", bytes(c.bytesIn), "Bytes read from client sockets.") +
      fact("sent", bytes(c.bytesOut), "Bytes the kernel accepted into send queues (write, sendfile).") +
      fact("files open", n(c.filesOpen), "Files held by responses being sent with sendfile(2).") +
      fact(
        "files kept",
        n(c.filesKept),
        "Large files kept open between responses (counted in the descriptor budget).",
      ) +
      fact(
        "errors",
        errors || "none",
        "5xx answers, timeouts, refused requests and failed writes, by kind.",
      ) +
      fact("clients left", left || "none", "Clients that reset or closed before their answer was all sent."),
  );
}

function histogramCard(s: StatusSnapshot): string {
  const h = s.responseSeconds;
  let previous = 0;
  const rows = h.buckets.map((b) => {
    const count = b.count - previous;
    previous = b.count;
    return { label: b.le === "+Inf" ? "slower" : `≤ ${formatSeconds(b.le)}`, count };
  });
  const most = Math.max(1, ...rows.map((r) => r.count));
  const bars = rows.filter((r, i) => r.count > 0 || i < 4).map((r) =>
    `<div class="bar"><span class="lbl">${r.label}</span><span class="track"><span class="fill" ` +
    `style="width:${(100 * r.count / most).toFixed(1)}%"></span></span><span class="cnt">${
      n(r.count)
    }</span></div>`
  ).join("");
  const mean = h.count ? formatSeconds(h.sum / h.count) : "–";
  return `<section class="card"><h2>Response time</h2><p class="note">From a request's head arriving to its ` +
    `last byte accepted by the kernel, on the reactor's batch clock: a response written in the batch its ` +
    `request arrived in counts as 0. ${n(h.count)} responses, mean ${mean}.</p>${bars}</section>`;
}

function reactorCard(s: StatusSnapshot): string {
  const r = s.reactor;
  const perBatch = r.batches ? (s.counters.requests / r.batches).toFixed(1) : "–";
  return card(
    "Reactor",
    fact(
      "batches",
      n(r.batches),
      `Rounds of ready sockets dispatched after one epoll_wait (${perBatch} requests each).`,
    ) +
      fact("polls", n(r.waits), "Non-blocking epoll_wait(…, 0) calls, ~0.3 µs each while there is work.") +
      fact(
        "blocking waits",
        n(r.blockingWaits),
        "Times there was nothing to do and the reactor slept in epoll_wait on Deno's thread pool (~50 µs to wake).",
      ) +
      fact("yields", n(r.yields), "Turns given to Deno's event loop: timers, signals, promises.") +
      fact(
        "spin budget",
        n(r.spinBudget),
        "Empty polls before blocking; doubles when spinning found work, halves when it did not.",
      ),
  );
}

const SOCKSTAT_WHY: Record<string, string> = {
  used: "Sockets of every kind, all processes in this network namespace.",
  inuse: "TCP sockets in use (TCP: IPv4, TCP6: IPv6).",
  orphan: "Closed by their program; the kernel still sends what was left.",
  tw: "TIME_WAIT: closed connections kept ~60 s so stray segments are not misread.",
  alloc: "TCP sockets allocated, orphans included.",
  mem: "4 KiB pages all TCP buffers hold, against net.ipv4.tcp_mem.",
};

function systemCard(s: StatusSnapshot): string {
  if (!s.system) return "";
  const facts = Object.entries(s.system).flatMap(([line, pairs]) =>
    Object.entries(pairs).map(([key, value]) =>
      fact(`${escapeHtml(line)} ${escapeHtml(key)}`, n(value), SOCKSTAT_WHY[key] ?? "")
    )
  );
  return card(
    "Kernel, whole machine",
    facts.join(""),
    "From /proc/net/sockstat: every process, not only rawserve.",
  );
}

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

function connectionsSection(s: StatusSnapshot): string {
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

function webSocketsSection(s: StatusSnapshot): string {
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

/**
 * The group's workers, each with its pid, requests and open connections (as of its latest
 * published numbers, whose age is given). The port is shared, so a link cannot choose one:
 * reloading the page reaches one at random.
 */
function groupList(s: StatusSnapshot): string {
  return (s.group ?? []).map((w) =>
    `worker ${w.index} (pid ${w.pid}, ${n(w.requests)} requests, ${n(w.open)} open` +
    (w.index === s.worker?.index ? ", this one)" : `, as of ${w.ageS} s ago)`)
  ).join(", ");
}

function summaryLine(s: StatusSnapshot): string {
  const who = s.worker
    ? `pid ${s.process.pid} · worker ${s.worker.index} answered` +
      (s.group
        ? ` (the connections below are its own); the group: ${groupList(s)}`
        : ": each worker answers for itself, a reload may reach another")
    : `pid ${s.process.pid}`;
  const state = s.draining ? `<b class="draining">draining</b>` : `<b class="serving">serving</b>`;
  return `<p id="top" class="sub">${state} · ${who} · up ${formatAge(s.process.uptimeS * 1000)}</p>`;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#667085;--line:#e3e6ea;--accent:#2f6feb;--hot:#c2410c}
@media (prefers-color-scheme:dark){:root{--bg:#0f1218;--card:#171b23;--ink:#e6e9ef;--mute:#98a2b3;--line:#2a303b;--accent:#6ea0ff;--hot:#fb923c}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,sans-serif}
header{padding:1rem 1rem .25rem;max-width:92rem;margin:auto}h1{margin:0;font-size:1.35rem}h1 span{color:var(--mute);font-weight:400}
.sub{margin:.25rem 0;color:var(--mute)}.serving{color:#15803d}.draining{color:var(--hot)}
.live{font-size:.85rem;color:var(--mute);margin:.25rem 0}.live code{font-size:.8rem}
main{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(19rem,1fr));padding:.75rem 1rem 2rem;max-width:92rem;margin:auto}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.75rem .9rem;min-width:0}
.wide{grid-column:1/-1}h2{font-size:.95rem;margin:0 0 .4rem;text-transform:uppercase;letter-spacing:.04em;color:var(--mute)}
dl{margin:0}.fact{display:grid;grid-template-columns:9.5rem 1fr;column-gap:.5rem;padding:.3rem 0;border-top:1px solid var(--line)}
.fact:first-child{border-top:0}dt{font-weight:600}.v{margin:0;font-variant-numeric:tabular-nums}
.why{grid-column:1/-1;margin:0;color:var(--mute);font-size:.82rem}small{color:var(--mute)}
.note{margin:0 0 .5rem;color:var(--mute);font-size:.82rem}
.chip{display:inline-block;padding:0 .4rem;margin:0 .2rem .2rem 0;border-radius:.3rem;background:var(--line);font-size:.85rem}
.s2{background:#dcfce7;color:#14532d}.s3{background:#e0e7ff;color:#1e3a8a}.s4{background:#fef3c7;color:#78350f}.s5,.err{background:#fee2e2;color:#7f1d1d}
.bar{display:grid;grid-template-columns:5.5rem 1fr 4.5rem;gap:.4rem;align-items:center;font-size:.85rem;padding:.1rem 0}
.track{background:var(--line);border-radius:.2rem;height:.7rem;overflow:hidden}.fill{display:block;height:100%;background:var(--accent)}
.cnt{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.8rem;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.25rem .35rem;border-top:1px solid var(--line);white-space:nowrap}th{color:var(--mute);font-weight:600}
.ph{padding:0 .35rem;border-radius:.3rem;background:var(--line)}.ph.writing{background:#ffedd5;color:#7c2d12}
.ph.head,.ph.body{background:#dbeafe;color:#1e3a8a}.ph.busy{background:#ede9fe;color:#4c1d95}
.hot{color:var(--hot);font-weight:700}details{margin-top:.5rem}summary{cursor:pointer;color:var(--accent)}
.legend .fact{grid-template-columns:6rem 1fr}.legend .why{grid-column:auto}
@media (max-width:700px){.fact{grid-template-columns:8rem 1fr}table,tbody,tr,td{display:block}thead{display:none}
tr{border:1px solid var(--line);border-radius:.5rem;margin:.5rem 0;padding:.25rem .5rem;display:grid;grid-template-columns:1fr 1fr;column-gap:.75rem}
td{display:grid;grid-template-columns:3.9rem 1fr;border:0;padding:.1rem 0;white-space:normal;min-width:0}
td[data-label=peer],td[data-label=state]{grid-column:1/-1}
td::before{content:attr(data-label);color:var(--mute)}}
`;

// Fetches the page again and swaps in the fresh summary and body; pauses while hidden or
// unticked, and says so when the server stops answering (it is draining, or gone).
const SCRIPT = `
const live=document.getElementById("live"),state=document.getElementById("state");
async function tick(){
  if(live.checked&&!document.hidden){
    try{
      const r=await fetch(location.href,{headers:{accept:"text/html"},cache:"no-store"});
      const doc=new DOMParser().parseFromString(await r.text(),"text/html");
      for(const id of ["top","main"])document.getElementById(id).replaceWith(doc.getElementById(id));
      state.textContent="live, every ${REFRESH_MS / 1000} s";
    }catch{state.textContent="not answering: stopped or draining"}
  }
  setTimeout(tick,${REFRESH_MS});
}
setTimeout(tick,${REFRESH_MS});
`;

/**
 * The status page for one snapshot.
 * @param snapshot what to show
 * @returns a complete HTML document
 */
export function renderStatusPage(snapshot: StatusSnapshot): string {
  const main = processCard(snapshot) + listenerCard(snapshot) + countersCard(snapshot) +
    histogramCard(snapshot) + reactorCard(snapshot) + systemCard(snapshot) + connectionsSection(snapshot) +
    webSocketsSection(snapshot);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rawserve status · pid ${snapshot.process.pid}</title>
<noscript><meta http-equiv="refresh" content="${REFRESH_MS / 1000 + 3}"></noscript>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>rawserve <span>· the kernel side, live</span></h1>
${summaryLine(snapshot)}
<p class="live"><label><input type="checkbox" id="live" checked> <span id="state">live, every ${
    REFRESH_MS / 1000
  } s</span></label> · the same as JSON: <code>curl -H 'Accept: application/json' …</code></p>
</header>
<main id="main">${main}</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
