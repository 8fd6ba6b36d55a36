// The flags for running behind a load balancer or under a service manager: the PROXY protocol,
// trusted proxies and the fields they write, a Unix socket, an inherited listener, and the drain
// a balancer can see. flags.ts declares them to parseArgs; this module checks them.

import { UsageError } from "./flags.ts";
import { TrustedProxies } from "../transport/trusted_proxies.ts";
import type { ForwardedField } from "../transport/forwarded.ts";

/** Their lines in --help. */
export const PRODUCTION_USAGE =
  `  --proxy-protocol          every connection opens with a PROXY protocol header (v1 or v2:
                            HAProxy send-proxy-v2, nginx proxy_protocol, AWS NLB) naming the
                            client; needs --trusted-proxy; others are closed
  --trusted-proxy CIDR      a balancer or proxy whose word on the client is taken: its PROXY
                            header, and the --forwarded-field it writes (repeatable; e.g.
                            10.0.0.0/8, ::1; unix for peers on a Unix socket)
  --forwarded-field NAME    x-forwarded-for (default) or forwarded
                            (RFC 7239): the one field the trusted proxies write
  --unix PATH               listen on a Unix socket at PATH instead of a TCP port (a stale
                            socket file is replaced; the file is removed at shutdown)
  --unix-mode MODE          the socket file's permissions, octal (e.g. 660)
  --fd N                    serve on listening socket N inherited from the parent; systemd's
                            socket activation (LISTEN_FDS) is used without it
  --drain-delay SECONDS     on SIGTERM, --health answers 503 for SECONDS while serving goes
                            on, so a balancer takes this server out before it stops accepting`;

/** The checked values. */
export interface ProductionConfig {
  /** Trusted proxies' sources as given (checked); empty for none. */
  trustedProxies: string[];
  proxyProtocol: boolean;
  forwardedField: ForwardedField;
  unix: { path: string; mode: number | null } | null;
  /** A listening descriptor to take over (--fd), or null. */
  fd: number | null;
  /** How long --health says 503 before the listener closes, at SIGTERM (0: at once). */
  drainDelayMs: number;
}

/** The raw values parseArgs found for these flags. */
export interface ProductionFlags {
  "proxy-protocol"?: boolean;
  "trusted-proxy"?: string[];
  "forwarded-field"?: string;
  unix?: string;
  "unix-mode"?: string;
  fd?: string;
  "drain-delay"?: string;
  host?: string;
  port?: string;
  workers?: string;
  health?: string;
}

/**
 * Checks the production flags.
 * @throws {UsageError} for a bad value or a combination that cannot work
 */
export function productionConfig(v: ProductionFlags): ProductionConfig {
  const trustedProxies = v["trusted-proxy"] ?? [];
  try {
    new TrustedProxies(trustedProxies);
  } catch (e) {
    throw new UsageError(`--trusted-proxy: ${(e as Error).message}`);
  }
  const proxyProtocol = v["proxy-protocol"] ?? false;
  if (proxyProtocol && trustedProxies.length === 0) {
    throw new UsageError(
      `--proxy-protocol needs --trusted-proxy CIDR: the balancers allowed to send the header`,
    );
  }
  const field = v["forwarded-field"] ?? "x-forwarded-for";
  if (field !== "x-forwarded-for" && field !== "forwarded") {
    throw new UsageError(`--forwarded-field takes x-forwarded-for or forwarded, not "${field}"`);
  }
  const unix = unixConfig(v);
  const fd = v.fd === undefined
    ? null
    : /^[0-9]+$/.test(v.fd) && Number(v.fd) >= 3 && Number(v.fd) < 65536
    ? Number(v.fd)
    : badValue("--fd takes a descriptor number of 3 or more", v.fd);
  if (unix && fd !== null) throw new UsageError(`Give --unix or --fd, not both`);
  if ((unix || fd !== null) && (v.host !== undefined || v.port !== undefined)) {
    throw new UsageError(`${unix ? "--unix" : "--fd"} replaces --host and --port; give one or the other`);
  }
  if ((unix || fd !== null) && v.workers !== undefined && v.workers !== "1") {
    throw new UsageError(`${unix ? "--unix" : "--fd"} serves one process; --workers needs a TCP port`);
  }
  const drainDelayMs = drainDelay(v["drain-delay"]);
  return { trustedProxies, proxyProtocol, forwardedField: field, unix, fd, drainDelayMs };
}

function unixConfig(v: ProductionFlags): ProductionConfig["unix"] {
  if (v.unix === undefined) {
    if (v["unix-mode"] !== undefined) throw new UsageError(`--unix-mode needs --unix PATH`);
    return null;
  }
  if (v.unix === "") throw new UsageError(`--unix needs a path, e.g. --unix /run/rawserve.sock`);
  const modeText = v["unix-mode"];
  if (modeText !== undefined && !/^0?[0-7]{3}$/.test(modeText)) {
    badValue("--unix-mode takes octal permissions such as 660 or 0666", modeText);
  }
  return { path: v.unix, mode: modeText === undefined ? null : parseInt(modeText, 8) };
}

function drainDelay(text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || n > 3600) {
    badValue("--drain-delay takes a number of seconds from 0 to 3600 (e.g. 5)", text);
  }
  return Math.round(n * 1000);
}

function badValue(rule: string, text: string): never {
  throw new UsageError(`${rule}, not "${text}"`);
}
