// Directory listings: an HTML page of a directory's entries, names escaped, or the same entries
// as JSON for clients that ask for it (Accept: application/json); directories first, then by name.

import type { HttpResponse } from "../types.ts";
import { STATUS } from "../status.ts";
import { escapeHtml, formatBytes } from "../format.ts";
import type { DirEntry, StaticFs } from "./types.ts";

/** One entry of a JSON listing. */
export interface ListingEntry {
  name: string;
  type: "file" | "directory";
  /** Bytes of a file; null for a directory. */
  size: number | null;
  /** Modification time, ISO 8601 in UTC (`2026-11-26T10:00:00.000Z`). */
  mtime: string;
}

/** Directories first, then by name. */
function byKindThenName(a: DirEntry, b: DirEntry): number {
  return Number(b.isDirectory) - Number(a.isDirectory) || a.name.localeCompare(b.name);
}

/**
 * Lists `rel` as an HTML page or as JSON.
 * @param fs the served root
 * @param rel the directory beneath the root ("" for the root)
 * @param options `urlPath`: the directory's path as the client asked for it, ending in `/`;
 *   `dotfiles`: whether to list names that start with a dot; `json`: answer JSON; `headers`:
 *   fields every answer carries; `error`: the answer for a status (403, 404)
 * @returns 200 with the listing (it varies with Accept), or the error when it cannot be read
 */
export async function listDirectory(
  fs: StaticFs,
  rel: string,
  options: {
    urlPath: string;
    dotfiles: boolean;
    json: boolean;
    headers: readonly string[];
    error: (status: number) => HttpResponse | Promise<HttpResponse>;
  },
): Promise<HttpResponse> {
  let entries, truncated;
  try {
    ({ entries, truncated } = await fs.readDir(rel));
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) return options.error(STATUS.FORBIDDEN);
    if (e instanceof Deno.errors.NotFound) return options.error(STATUS.NOT_FOUND);
    throw e;
  }
  entries = entries.filter((e) => options.dotfiles || !e.name.startsWith("."));
  entries.sort(byKindThenName);
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
      // An array cannot say it was cut short: a field does (MAX_LISTING_ENTRIES in app/site/static_fs.ts).
      headers: [
        "Content-Type",
        "application/json",
        ...(truncated ? ["Listing-Truncated", "true"] : []),
        ...common,
      ],
      body: JSON.stringify(list) + "\n",
    };
  }
  return {
    status: STATUS.OK,
    headers: ["Content-Type", "text/html; charset=utf-8", ...common],
    body: listingPage(entries, options.urlPath, truncated),
  };
}

function listingPage(entries: DirEntry[], urlPath: string, truncated: boolean): string {
  const title = escapeHtml(`Index of ${urlPath}`);
  const rows = entries.map((e) => {
    const name = e.name + (e.isDirectory ? "/" : "");
    const href = encodeURIComponent(e.name) + (e.isDirectory ? "/" : "");
    const size = e.isDirectory ? "-" : formatBytes(e.size);
    const date = new Date(e.mtimeMs).toISOString().replace("T", " ").slice(0, 16);
    return `<tr><td><a href="${href}">${escapeHtml(name)}</a></td><td>${size}</td><td>${date}</td></tr>`;
  });
  const up = urlPath === "/" ? "" : `<tr><td><a href="../">../</a></td><td></td><td></td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td{padding:.2rem .8rem .2rem 0}td:nth-child(2){text-align:right}
a{text-decoration:none}a:hover{text-decoration:underline}</style></head>
<body><h1>${title}</h1><table>
${up}${rows.join("\n")}
</table>${truncated ? `<p>Only the first ${rows.length} entries are shown.</p>` : ""}</body></html>
`;
}
