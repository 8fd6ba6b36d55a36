// Directory listings: an HTML page of a directory's entries, or the same entries as JSON for clients
// that ask for it (Accept: application/json). Directories first, then in the order the query asks
// (`?sort=name|size|date&order=asc|desc`, natural name order by default); the cut to
// MAX_LISTING_ENTRIES is made after sorting. Every name is escaped; the page loads nothing from
// elsewhere, works without script, and its own inline style and script are allowed by their hashes.

import type { HttpResponse } from "../types.ts";
import { STATUS } from "../status.ts";
import { escapeHtml, formatBytes } from "../format.ts";
import type { DirEntry, StaticFs } from "./types.ts";
import {
  FIRST_ORDER,
  type ListingEntry,
  type ListingOrder,
  orderQuery,
  parseListingOrder,
  SORT_KEYS,
  sortAndCut,
} from "./listing_order.ts";

/**
 * Listings read and sorted at once, per handler; others wait their turn. Each may hold
 * MAX_LISTING_SCAN entries (app/site/static_fs.ts, ~10 MB) and keep the file system's threads busy
 * for a second or two, so many clients listing a huge directory together wait rather than
 * multiply both.
 */
export const MAX_CONCURRENT_LISTINGS = 4;

/** Lets at most a fixed number of listings work at once; the others wait in arrival order. */
export class ListingGate {
  #free: number;
  #waiting: (() => void)[] = [];

  /** @param max listings at once */
  constructor(max = MAX_CONCURRENT_LISTINGS) {
    this.#free = max;
  }

  /** Listings waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `work` when a place is free, and frees it when `work` settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the place passes straight to the next in line
      else this.#free++;
    }
  }
}

/** One link of a listing's breadcrumbs. */
export interface Crumb {
  /** The segment as shown ("/" for the root). */
  label: string;
  /** A relative link to that directory ("../../", "./"). */
  href: string;
}

/**
 * The breadcrumbs of a directory: the root, then each segment, each linking to its directory by a
 * relative path (so the page works behind a proxy that mounts it under a prefix).
 * @param urlPath the directory as the client asked for it, decoded, ending in `/` (`/a/b/`)
 */
export function breadcrumbs(urlPath: string): Crumb[] {
  const segments = urlPath.split("/").filter((s) => s !== "");
  const up = (n: number) => n === 0 ? "./" : "../".repeat(n);
  return [
    { label: "/", href: up(segments.length) },
    ...segments.map((label, i) => ({ label, href: up(segments.length - 1 - i) })),
  ];
}

/**
 * Lists `rel` as an HTML page or as JSON.
 * @param fs the served root
 * @param rel the directory beneath the root ("" for the root)
 * @param options `urlPath`: the directory's path as the client asked for it, ending in `/`;
 *   `query`: the request's query string (the order); `dotfiles`: whether to list names that
 *   start with a dot; `json`: answer JSON; `headers`: fields every answer carries; `error`: the
 *   answer for a status (400, 403, 404)
 * @returns 200 with the listing (it varies with Accept), or the error when it cannot be read
 */
export function listDirectory(
  fs: StaticFs,
  rel: string,
  options: {
    urlPath: string;
    query: string;
    dotfiles: boolean;
    json: boolean;
    headers: readonly string[];
    error: (status: number) => HttpResponse | Promise<HttpResponse>;
    gate?: ListingGate;
  },
): Promise<HttpResponse> {
  const order = parseListingOrder(options.query);
  if (order === null) return Promise.resolve(options.error(STATUS.BAD_REQUEST));
  return options.gate
    ? options.gate.run(() => listOrdered(fs, rel, order, options))
    : listOrdered(fs, rel, order, options);
}

/** listDirectory() once the order is known (and the gate, if any, let it in). */
async function listOrdered(
  fs: StaticFs,
  rel: string,
  order: ListingOrder,
  options: Parameters<typeof listDirectory>[2],
): Promise<HttpResponse> {
  let read;
  try {
    read = await fs.readDir(rel);
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) return options.error(STATUS.FORBIDDEN);
    if (e instanceof Deno.errors.NotFound) return options.error(STATUS.NOT_FOUND);
    throw e;
  }
  const all = options.dotfiles ? read.entries : read.entries.filter((e) => !e.name.startsWith("."));
  const total = all.length;
  const entries = await sortAndCut(all, order);
  const truncated = read.truncated || entries.length < total;
  const common = ["Vary", "Accept", "X-Content-Type-Options", "nosniff", ...options.headers];
  if (options.json) {
    const list: ListingEntry[] = entries.map((e) => ({
      name: e.name,
      type: e.isDirectory ? "directory" : "file",
      size: e.isDirectory ? null : e.size,
      mtime: new Date(e.mtimeMs).toISOString(),
    }));
    return {
      status: STATUS.OK,
      // An array cannot say it was cut short: a field does.
      headers: [
        "Content-Type",
        "application/json",
        ...(truncated ? ["Listing-Truncated", "true"] : []),
        ...common,
      ],
      body: JSON.stringify(list) + "\n",
    };
  }
  const csp = await pageCsp();
  return {
    status: STATUS.OK,
    headers: ["Content-Type", "text/html; charset=utf-8", "Content-Security-Policy", csp, ...common],
    body: listingPage(entries, {
      urlPath: options.urlPath,
      order,
      total: read.truncated ? null : total,
    }),
  };
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#667085;--line:#e3e6ea;--accent:#2456c8;--hover:#eef2f8}
@media (prefers-color-scheme:dark){:root{--bg:#0f1218;--card:#171b23;--ink:#e6e9ef;--mute:#98a2b3;--line:#2a303b;--accent:#7aa7ff;--hover:#1f2531}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,sans-serif}
main{max-width:64rem;margin:auto;padding:1rem}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:1.25rem;font-weight:600;margin:.25rem 0 .75rem;overflow-wrap:anywhere}
h1 .lead{color:var(--mute);font-weight:400}h1 .crumbs a{padding:0 .05rem}h1 .here{color:var(--ink)}h1 .sep{color:var(--mute);padding:0 .1rem}
.bar{display:flex;gap:.75rem;align-items:center;margin:0 0 .6rem}
#filter{flex:1;max-width:22rem;font:inherit;padding:.35rem .6rem;border:1px solid var(--line);border-radius:.4rem;background:var(--card);color:var(--ink)}
.count{color:var(--mute);font-size:.85rem}
table{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:.6rem}
th,td{padding:.4rem .75rem;text-align:left;vertical-align:baseline}
thead th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;border-bottom:1px solid var(--line);white-space:nowrap}
thead a{color:var(--mute)}thead a.on{color:var(--ink)}
tbody td{border-top:1px solid var(--line)}tbody tr:first-child td{border-top:0}tbody tr:hover{background:var(--hover)}
td.name{overflow-wrap:anywhere;width:100%}td.name a{display:block}
.size,.date{white-space:nowrap;font-variant-numeric:tabular-nums;color:var(--mute)}.size{text-align:right}
.dir a{font-weight:600}.up a{color:var(--mute)}
footer{color:var(--mute);font-size:.85rem;margin:.6rem .2rem}
@media (max-width:40rem){
main{padding:.75rem .5rem}h1{font-size:1.1rem}
table,thead,tbody{display:block}
thead tr{display:flex;gap:1rem;padding:0 .75rem;border-bottom:1px solid var(--line)}thead th{padding:.45rem 0;border:0}thead th.name{flex:1}
tbody tr{display:grid;grid-template-columns:1fr auto;column-gap:1rem;padding:.35rem .75rem;border-top:1px solid var(--line)}
tbody tr:first-child{border-top:0}tbody td{padding:0;border:0}td.name{grid-column:1/-1;width:auto}
tbody .size{text-align:left;font-size:.85rem}tbody .date{text-align:right;font-size:.85rem}
}
`;

// Shows the filter box, filters rows by name as one types, and shows times in the reader's zone.
const SCRIPT = `
const box = document.getElementById("filter"), count = document.getElementById("count");
const rows = [...document.querySelectorAll("tbody tr:not(.up)")].map((r) => [r, r.querySelector("a").textContent.toLowerCase()]);
box.hidden = false;
function filter() {
  const q = box.value.trim().toLowerCase();
  let shown = 0;
  for (const [row, name] of rows) shown += (row.hidden = q !== "" && !name.includes(q)) ? 0 : 1;
  count.textContent = q === "" ? "" : shown + " of " + rows.length;
}
box.addEventListener("input", filter);
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && document.activeElement !== box) { e.preventDefault(); box.focus(); }
  if (e.key === "Escape" && document.activeElement === box) { box.value = ""; filter(); }
});
filter();
const two = (n) => String(n).padStart(2, "0");
for (const t of document.querySelectorAll("time")) {
  const d = new Date(t.dateTime);
  t.textContent = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
}
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
document.getElementById("date-head").title = "Local time" + (zone ? " (" + zone + ")" : "");
`;

let cspPromise: Promise<string> | null = null;

/** The page's policy: nothing from elsewhere; its own style and script, by their SHA-256 (CSP 3 §8.3). */
function pageCsp(): Promise<string> {
  return cspPromise ??= (async () => {
    const hash = async (text: string) => {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
    };
    return `default-src 'none'; style-src ${await hash(STYLE)}; script-src ${await hash(SCRIPT)}; ` +
      "base-uri 'none'; form-action 'none'";
  })();
}

/** Decimal digits grouped by thousands (`1,234,567`), without Intl. */
function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `2026-12-05 10:00 UTC`: the time as it is shown before the script shows it in local time. */
function utcText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** The column heads: each a link that sorts by it, toggling the direction of the current column. */
function columnHeads(order: ListingOrder): string {
  const labels = { name: "Name", size: "Size", date: "Modified" } as const;
  return SORT_KEYS.map((key) => {
    const on = order.sort === key;
    const next: ListingOrder = {
      sort: key,
      order: on ? (order.order === "asc" ? "desc" : "asc") : FIRST_ORDER[key],
    };
    const arrow = on ? (order.order === "asc" ? " ▲" : " ▼") : "";
    const sorted = on ? ` aria-sort="${order.order === "asc" ? "ascending" : "descending"}"` : "";
    const id = key === "date" ? ` id="date-head" title="UTC"` : "";
    const href = escapeHtml(`./${orderQuery(next)}`);
    return `<th class="${key}"${sorted}${id}><a${on ? ` class="on"` : ""} href="${href}">${
      labels[key]
    }${arrow}</a></th>`;
  }).join("");
}

function listingPage(
  entries: readonly DirEntry[],
  page: { urlPath: string; order: ListingOrder; total: number | null },
): string {
  const title = escapeHtml(`Index of ${page.urlPath}`);
  const keep = escapeHtml(orderQuery(page.order)); // directory links keep the order
  const crumbs = breadcrumbs(page.urlPath).map((c, i, all) => {
    const here = i === all.length - 1 ? ` class="here" aria-current="page"` : "";
    const sep = i === 0 ? "" : `<span class="sep">/</span>`;
    return `<a href="${c.href}${keep}"${here}>${escapeHtml(c.label)}</a>${sep}`;
  }).join("");
  let dirs = 0, files = 0, bytes = 0;
  const rows = entries.map((e) => {
    const date = `<td class="date"><time datetime="${new Date(e.mtimeMs).toISOString()}">${
      utcText(e.mtimeMs)
    }</time></td>`;
    if (e.isDirectory) {
      dirs++;
      const href = escapeHtml(encodeURIComponent(e.name)) + "/" + keep;
      return `<tr class="dir"><td class="name"><a href="${href}">${
        escapeHtml(e.name)
      }/</a></td><td class="size">—</td>${date}</tr>`;
    }
    files++;
    bytes += e.size;
    const href = escapeHtml(encodeURIComponent(e.name));
    return `<tr><td class="name"><a href="${href}">${escapeHtml(e.name)}</a></td><td class="size" title="${
      groupDigits(e.size)
    } bytes">${formatBytes(e.size)}</td>${date}</tr>`;
  });
  const up = page.urlPath === "/"
    ? ""
    : `<tr class="up"><td class="name"><a href="../${keep}">../</a></td><td class="size"></td><td class="date"></td></tr>\n`;
  const shown = entries.length;
  const summary = `${dirs} ${dirs === 1 ? "directory" : "directories"}, ${files} ${
    files === 1 ? "file" : "files"
  } (${formatBytes(bytes)})`;
  const cut = page.total === null
    ? ` · showing the first ${groupDigits(shown)} of more entries than a listing reads`
    : shown < page.total
    ? ` · showing the first ${groupDigits(shown)} of ${groupDigits(page.total)} entries in this order`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>${title}</title>
<style>${STYLE}</style></head>
<body><main>
<h1><span class="lead">Index of</span> <span class="crumbs">${crumbs}</span></h1>
<div class="bar"><input id="filter" type="search" placeholder="Filter names (press /)" aria-label="Filter names" autocomplete="off" hidden><span id="count" class="count"></span></div>
<table><thead><tr>${columnHeads(page.order)}</tr></thead>
<tbody>
${up}${rows.join("\n")}
</tbody></table>
<footer>${summary}${cut}</footer>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
