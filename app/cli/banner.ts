// What the CLI prints for a person at a terminal: colours (unless NO_COLOR), the server's URLs,
// and the start-up banner that tools and a --workers supervisor read the first line of.

import { styleText } from "node:util";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import type { CliConfig } from "./flags.ts";
import { isWildcard, lanAddresses } from "./lan_addresses.ts";

/** Colours for a terminal, unless NO_COLOR is set (https://no-color.org). */
export function paint(format: Parameters<typeof styleText>[0], text: string): string {
  const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  return color ? styleText(format, text) : text;
}

/** `http://127.0.0.1:8080/` (or `https://`), with brackets around an IPv6 address. */
export function formatUrl(host: string, port: number, tls = false): string {
  const scheme = tls ? "https" : "http";
  return `${scheme}://${formatAuthority(host, port)}/`;
}

/** What the start-up line says is served: the root as an absolute path, so there is no doubt which. */
export function describeSite(config: CliConfig): string {
  if (config.app !== null) return `app ${config.app}`;
  return config.root === null ? "embedded page" : `serving ${absolutePath(config.root)}`;
}

/** `path` from the working directory, as an absolute path without `.` and `..` (node:path costs ~1.5 ms to load). */
export function absolutePath(path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${Deno.cwd()}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * The start-up banner: the URL line (which tools and a --workers supervisor read first), then
 * where else the server can be reached, its operator pages, and how to stop it.
 * @param config the command line
 * @param bound the address listened on
 * @param extra words after the site in the URL line (e.g. `4 workers`)
 */
export function bannerLines(config: CliConfig, bound: { host: string; port: number }, extra = ""): string[] {
  const tls = config.tls !== null;
  const site = describeSite(config) + (extra ? `, ${extra}` : "");
  const lines = [`rawserve listening on ${paint("bold", formatUrl(bound.host, bound.port, tls))} (${site})`];
  const addresses = lanAddresses(bound.host);
  if (isWildcard(bound.host)) {
    lines.push(
      addresses.length > 0
        ? `  on your network: ${addresses.map((a) => formatUrl(a, bound.port, tls)).join("  ")}`
        : `  on your network: no address other than loopback found`,
    );
  }
  // The operator pages from this machine (the status page answers loopback clients only).
  const local = isWildcard(bound.host) ? (bound.host.includes(":") ? "::1" : "127.0.0.1") : bound.host;
  const base = formatUrl(local, bound.port, tls).slice(0, -1);
  for (
    const [name, path] of [["status", config.statusPath], ["metrics", config.metricsPath], [
      "health",
      config.healthPath,
    ]] as const
  ) {
    if (path !== null) lines.push(`  ${name.padEnd(8)}${base}${path}`);
  }
  lines.push(paint("dim", "Ctrl-C to stop"));
  return lines;
}

/**
 * The lines printed once listening: the banner, or for a Unix socket its path and how to stop.
 * @param bound the address listened on, or the socket's path
 */
export function listeningLines(
  config: CliConfig,
  bound: { host: string; port: number; path: string | null },
): string[] {
  return bound.path !== null
    ? [
      `rawserve listening on ${paint("bold", `unix:${bound.path}`)} (${describeSite(config)})`,
      paint("dim", "Ctrl-C to stop"),
    ]
    : bannerLines(config, bound);
}
