// Directory listings: an HTML page of a directory's entries, directories first, names escaped.

import type { HttpResponse } from "../types.ts";
import { STATUS, statusResponse } from "../status.ts";
import { formatBytes } from "../format.ts";
import type { StaticFs } from "./types.ts";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Lists `rel` as an HTML page.
 * @param fs the served root
 * @param rel the directory beneath the root ("" for the root)
 * @param options `urlPath`: the directory's path as the client asked for it, ending in `/`;
 *   `dotfiles`: whether to list names that start with a dot; `headers`: fields every answer carries
 * @returns 200 with the page, or 403/404 when the directory cannot be read
 */
export async function listDirectory(
  fs: StaticFs,
  rel: string,
  options: { urlPath: string; dotfiles: boolean; headers: readonly string[] },
): Promise<HttpResponse> {
  let entries, truncated;
  try {
    ({ entries, truncated } = await fs.readDir(rel));
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) return statusResponse(STATUS.FORBIDDEN);
    if (e instanceof Deno.errors.NotFound) return statusResponse(STATUS.NOT_FOUND);
    throw e;
  }
  entries = entries.filter((e) => options.dotfiles || !e.name.startsWith("."));
  entries.sort((a, b) => Number(b.isDirectory) - Number(a.isDirectory) || a.name.localeCompare(b.name));
  const { urlPath } = options;
  const title = escapeHtml(`Index of ${urlPath}`);
  const rows = entries.map((e) => {
    const name = e.name + (e.isDirectory ? "/" : "");
    const href = encodeURIComponent(e.name) + (e.isDirectory ? "/" : "");
    const size = e.isDirectory ? "-" : formatBytes(e.size);
    const date = new Date(e.mtimeMs).toISOString().replace("T", " ").slice(0, 16);
    return `<tr><td><a href="${href}">${escapeHtml(name)}</a></td><td>${size}</td><td>${date}</td></tr>`;
  });
  const up = urlPath === "/" ? "" : `<tr><td><a href="../">../</a></td><td></td><td></td></tr>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td{padding:.2rem .8rem .2rem 0}td:nth-child(2){text-align:right}
a{text-decoration:none}a:hover{text-decoration:underline}</style></head>
<body><h1>${title}</h1><table>
${up}${rows.join("\n")}
</table>${truncated ? `<p>Only the first ${rows.length} entries are shown.</p>` : ""}</body></html>
`;
  return {
    status: STATUS.OK,
    headers: [
      "Content-Type",
      "text/html; charset=utf-8",
      "X-Content-Type-Options",
      "nosniff",
      ...options.headers,
    ],
    body: html,
  };
}
