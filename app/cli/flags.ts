// rawserve's command line: the flags and their checks (the help text is in usage.ts). A usage error is one
// line for the user (UsageError; the caller exits with code 2).

import { parseArgs } from "node:util";
import { DEFAULTS } from "../defaults.ts";
import { YIELD_INTERVAL_MS } from "../../loop/reactor.ts";
import { IDLE_SPINS } from "../../loop/wait_policy.ts";
import { FIELD_VALUE_RULE, hasControl, parseExtraField } from "./extra_fields.ts";
import { isFieldValue } from "../../http/tokens.ts";
import { serializeOrigin } from "../../http/cors.ts";
import { LOG_FORMATS, type LogFormat } from "./access_log.ts";
import { type ProductionConfig, productionConfig } from "./production_flags.ts";
import { authConfig } from "./auth.ts";

/** Parsed command line. */
export interface CliConfig extends ProductionConfig {
  host: string;
  port: number;
  backlog: number;
  maxConnections: number | null;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  bodyTimeoutMs: number;
  writeTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxBodyBytes: number;
  /** Request-body bytes all connections together may hold (503 beyond). */
  maxBodyMemoryBytes: number;
  /** Received WebSocket message bytes all sockets may hold (--max-websocket-memory; 1013 beyond). */
  maxWebSocketMemoryBytes: number;
  quiet: boolean;
  root: string | null;
  /** A module whose default export has fetch(request, info), or null. */
  app: string | null;
  listing: boolean;
  dotfiles: boolean;
  followSymlinks: boolean;
  cacheControl: string | null;
  /** --immutable globs. */
  immutable: string[];
  /** Content codings for static files (--compress). */
  compress: boolean;
  /** --spa: index.html for client-side routes. */
  spa: boolean;
  /** --cors origins, serialized as browsers send them (or `*`); empty for none. */
  cors: string[];
  /** --auth-file, --auth-paths and --auth-realm; null without --auth-file. */
  auth: { file: string; paths: string[]; realm: string } | null;
  /** --header fields: names and values, alternating. */
  headers: string[];
  accessLog: string | null;
  /** --log-format. */
  logFormat: LogFormat;
  /** --log-operator-paths: requests to --status, --metrics and --health are logged too. */
  logOperatorPaths: boolean;
  statsIntervalMs: number | null;
  yieldIntervalMs: number;
  idleSpins: number;
  workers: number;
  sndbuf: number | null;
  rcvbuf: number | null;
  noDelay: boolean;
  /** Speak HTTP/2: h2 by ALPN over TLS, h2c to clients that open with its preface (--http2). */
  http2: boolean;
  /** Introspection paths (null: off); see app/operator/introspection.ts. */
  statusPath: string | null;
  statusPublic: boolean;
  metricsPath: string | null;
  healthPath: string | null;
  /** HTTPS: certificate, key and handshake deadline; null for plain HTTP. */
  tls: {
    cert: string;
    key: string;
    /** The pairs after the first, for other names (SNI); the first is the default. */
    others: { cert: string; key: string }[];
    handshakeTimeoutMs: number;
    tickets: boolean;
  } | null;
}

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not "${text}"`);
  }
  return Number(text);
}

function onOff(name: string, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  if (text === "on") return true;
  if (text === "off") return false;
  throw new UsageError(`--${name} takes on or off, not "${text}"`);
}

function seconds(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(n > 0) || n > 86_400) {
    throw new UsageError(`--${name} takes a number of seconds above 0 (e.g. 2.5), not "${text}"`);
  }
  return Math.round(n * 1000);
}

/** Every flag parseArgs knows; values are checked by the functions below. */
const FLAGS = {
  host: { type: "string", short: "H" },
  port: { type: "string", short: "p" },
  backlog: { type: "string" },
  "max-connections": { type: "string" },
  "header-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  "body-timeout": { type: "string" },
  "write-timeout": { type: "string" },
  "shutdown-timeout": { type: "string" },
  "max-body": { type: "string" },
  "max-body-memory": { type: "string" },
  "max-websocket-memory": { type: "string" },
  quiet: { type: "boolean" },
  "yield-interval": { type: "string" },
  "idle-spins": { type: "string" },
  workers: { type: "string" },
  sndbuf: { type: "string" },
  rcvbuf: { type: "string" },
  "no-delay": { type: "string" },
  root: { type: "string" },
  app: { type: "string" },
  "no-listing": { type: "boolean" },
  dotfiles: { type: "boolean" },
  "follow-symlinks": { type: "boolean" },
  "cache-control": { type: "string" },
  immutable: { type: "string", multiple: true },
  compress: { type: "string" },
  spa: { type: "boolean" },
  cors: { type: "string", multiple: true },
  header: { type: "string", multiple: true },
  "auth-file": { type: "string" },
  "auth-paths": { type: "string", multiple: true },
  "auth-realm": { type: "string" },
  "access-log": { type: "string" },
  "log-format": { type: "string" },
  "log-operator-paths": { type: "boolean" },
  "stats-interval": { type: "string" },
  status: { type: "string" },
  "status-public": { type: "boolean" },
  metrics: { type: "string" },
  health: { type: "string" },
  cert: { type: "string", multiple: true },
  key: { type: "string", multiple: true },
  "handshake-timeout": { type: "string" },
  "tls-tickets": { type: "string" },
  http2: { type: "string" },
  "proxy-protocol": { type: "boolean" },
  "trusted-proxy": { type: "string", multiple: true },
  "forwarded-field": { type: "string" },
  unix: { type: "string" },
  "unix-mode": { type: "string" },
  fd: { type: "string" },
  "drain-delay": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>["values"];

/** parseArgs with its errors turned into one line for the user. */
function parseFlags(args: string[]): { values: Flags; positionals: string[] } {
  try {
    return parseArgs({ args, strict: true, allowPositionals: true, options: FLAGS });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const flag = /'(-[^']*)'/.exec(message)?.[1];
    if (/Unknown option/i.test(message)) throw new UsageError(`Unknown flag ${flag ?? ""}; see --help`);
    if (/argument missing/i.test(message)) {
      throw new UsageError(`${flag ?? "A flag"} needs a value; see --help`);
    }
    if (/positional/i.test(message)) throw new UsageError(`Unexpected argument; see --help`);
    throw new UsageError(`${message.split("\n")[0]}; see --help`);
  }
}

/**
 * Parses rawserve's flags.
 * @param args the arguments after the program name
 * @returns the configuration, or "help" / "version"
 * @throws {UsageError} for unknown flags and bad values
 */
export function parseCli(args: string[]): CliConfig | "help" | "version" {
  // `deno task start -- --port 8084` passes the `--` on; a leading one ends nothing.
  const { values: v, positionals } = parseFlags(args[0] === "--" ? args.slice(1) : args);
  if (v.help) return "help";
  if (v.version) return "version";
  const auth = authConfig(v["auth-file"], v["auth-paths"], v["auth-realm"]); // the file is read at start
  if (typeof auth === "string") throw new UsageError(auth);
  return {
    ...networkConfig(v),
    ...limitConfig(v),
    ...siteConfig(v, positionals),
    ...siteBehaviour(v, v.root ?? positionals[0] ?? null),
    ...tuningConfig(v),
    ...introspectionConfig(v),
    auth,
    tls: tlsConfig(v),
    ...productionConfig(v),
  };
}

function tlsConfig(v: Flags): CliConfig["tls"] {
  const { cert, key } = v;
  if (cert === undefined && key === undefined) {
    for (const flag of ["handshake-timeout", "tls-tickets"] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} needs --cert and --key`);
    }
    return null;
  }
  if (!cert?.length || !key?.length) {
    throw new UsageError(
      `HTTPS needs both --cert FILE and --key FILE (PEM); ${cert?.length ? "--key" : "--cert"} is missing`,
    );
  }
  if (cert.length !== key.length) {
    throw new UsageError(
      `Each --cert needs its --key, in the same order: ${cert.length} --cert and ${key.length} --key given`,
    );
  }
  return {
    cert: cert[0]!,
    key: key[0]!,
    others: cert.slice(1).map((c, i) => ({ cert: c, key: key[i + 1]! })),
    handshakeTimeoutMs: seconds("handshake-timeout", v["handshake-timeout"], DEFAULTS.handshakeTimeoutMs),
    tickets: onOff("tls-tickets", v["tls-tickets"], true),
  };
}

function networkConfig(v: Flags) {
  const host = v.host ?? "127.0.0.1";
  if (host === "") throw new UsageError(`--host needs an address, e.g. 127.0.0.1 or ::1`);
  return {
    host,
    port: integer("port", v.port, 0, 65535) ?? 8080,
    backlog: integer("backlog", v.backlog, 1, 65535) ?? DEFAULTS.backlog,
    workers: v.workers === "auto"
      ? navigator.hardwareConcurrency
      : integer("workers", v.workers, 1, 256) ?? 1,
    sndbuf: integer("sndbuf", v.sndbuf, 1024, 2 ** 30) ?? null,
    rcvbuf: integer("rcvbuf", v.rcvbuf, 1024, 2 ** 30) ?? null,
    noDelay: onOff("no-delay", v["no-delay"], true),
    http2: onOff("http2", v.http2, true),
  };
}

function limitConfig(v: Flags) {
  return {
    maxConnections: integer("max-connections", v["max-connections"], 1, 10_000_000) ?? null,
    headerTimeoutMs: seconds("header-timeout", v["header-timeout"], DEFAULTS.headerTimeoutMs),
    idleTimeoutMs: seconds("idle-timeout", v["idle-timeout"], DEFAULTS.idleTimeoutMs),
    bodyTimeoutMs: seconds("body-timeout", v["body-timeout"], DEFAULTS.bodyTimeoutMs),
    writeTimeoutMs: seconds("write-timeout", v["write-timeout"], DEFAULTS.writeTimeoutMs),
    shutdownTimeoutMs: seconds("shutdown-timeout", v["shutdown-timeout"], DEFAULTS.shutdownTimeoutMs),
    maxBodyBytes: integer("max-body", v["max-body"], 0, 2 ** 31 - 1) ?? DEFAULTS.maxBodyBytes,
    maxBodyMemoryBytes: integer("max-body-memory", v["max-body-memory"], 0, 2 ** 40) ??
      DEFAULTS.maxBodyMemoryBytes,
    maxWebSocketMemoryBytes: integer("max-websocket-memory", v["max-websocket-memory"], 0, 2 ** 40) ??
      DEFAULTS.maxWebSocketMemoryBytes,
  };
}

function siteConfig(v: Flags, positionals: string[]) {
  if (positionals.length > 1 || (positionals.length === 1 && v.root !== undefined)) {
    const given = [v.root, ...positionals].filter(Boolean).join(" and ");
    throw new UsageError(`Give one directory to serve, not ${given}`);
  }
  const root = v.root ?? positionals[0] ?? null;
  if (root === "") throw new UsageError(`--root needs a directory`);
  const app = v.app ?? null;
  if (app === "") throw new UsageError(`--app needs a module, e.g. --app ./app.ts`);
  if (app !== null && root !== null) throw new UsageError(`Give --app or a directory to serve, not both`);
  const cacheControl = fieldValue("cache-control", v["cache-control"] ?? "no-cache");
  return {
    root,
    app,
    listing: !v["no-listing"],
    dotfiles: v.dotfiles ?? false,
    followSymlinks: v["follow-symlinks"] ?? false,
    cacheControl: cacheControl === "" ? null : cacheControl,
    quiet: v.quiet ?? false,
    accessLog: v["access-log"] ?? null,
    logFormat: logFormat(v["log-format"]),
    logOperatorPaths: v["log-operator-paths"] ?? false,
    statsIntervalMs: v["stats-interval"] === undefined
      ? null
      : seconds("stats-interval", v["stats-interval"], 0),
  };
}

function logFormat(text: string | undefined): LogFormat {
  if (text === undefined) return "common";
  const format = LOG_FORMATS.find((f) => f === text);
  if (!format) throw new UsageError(`--log-format takes ${LOG_FORMATS.join(", ")}, not "${text}"`);
  return format;
}

/**
 * A flag whose value is sent as a field value, checked as --header's values are (RFC 9110 §5.5):
 * a value that cannot be written would otherwise start fine and turn every answer into a 500, or
 * put control bytes on the wire. Whitespace around it is not part of a field value (§5.5).
 */
function fieldValue(name: string, text: string): string {
  const value = text.replace(/^[ \t]+|[ \t]+$/g, "");
  if (!isFieldValue(value)) {
    throw new UsageError(`--${name}: ${FIELD_VALUE_RULE}, not ${JSON.stringify(text)}`);
  }
  return value;
}

/** `--header "Name: value"` as a name and a value. */
function headerField(text: string): [string, string] {
  const field = parseExtraField(text);
  if (typeof field === "string") throw new UsageError(`--header ${field}`);
  return field;
}

/** `--cors ORIGIN`: `*`, or an origin as browsers send it (scheme, host and port, nothing after). */
function corsOrigin(text: string): string {
  const origin = text === "*" ? text : serializeOrigin(text);
  if (origin === null) {
    throw new UsageError(
      `--cors takes an origin such as https://app.example.com (scheme, host and port; no path), or *, not "${text}"`,
    );
  }
  return origin;
}

/** --immutable, --compress, --spa, --cors and --header. */
function siteBehaviour(v: Flags, root: string | null) {
  if (root === null) {
    for (const flag of ["immutable", "compress", "spa", "cors"] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} needs a directory to serve (--root DIR)`);
    }
  }
  const immutable = v.immutable ?? [];
  for (const glob of immutable) {
    if (glob === "" || hasControl(glob)) {
      throw new UsageError(`--immutable takes a glob such as '/assets/*', not ${JSON.stringify(glob)}`);
    }
  }
  const cors = (v.cors ?? []).map(corsOrigin);
  if (cors.includes("*") && cors.length > 1) {
    throw new UsageError(`--cors * already allows every origin; give it alone`);
  }
  return {
    immutable,
    compress: onOff("compress", v.compress, true),
    spa: v.spa ?? false,
    cors,
    headers: (v.header ?? []).flatMap(headerField),
  };
}

function tuningConfig(v: Flags) {
  return {
    idleSpins: integer("idle-spins", v["idle-spins"], 0, 1_000_000) ?? IDLE_SPINS,
    yieldIntervalMs: integer("yield-interval", v["yield-interval"], 0, 1000) ?? YIELD_INTERVAL_MS,
  };
}

/** An introspection path: absolute, no query or fragment, only characters a request-target may hold. */
function urlPath(name: string, text: string | undefined): string | null {
  if (text === undefined) return null;
  if (!/^\/[\x21-\x7e]*$/.test(text) || /[?#]/.test(text)) {
    throw new UsageError(`--${name} takes a path such as /${name}, not "${text}"`);
  }
  return text;
}

function introspectionConfig(v: Flags) {
  const statusPath = urlPath("status", v.status);
  const metricsPath = urlPath("metrics", v.metrics);
  const healthPath = urlPath("health", v.health);
  const given = [statusPath, metricsPath, healthPath].filter((p) => p !== null);
  if (new Set(given).size < given.length) {
    throw new UsageError(`--status, --metrics and --health need different paths`);
  }
  if (v["status-public"] && statusPath === null) throw new UsageError(`--status-public needs --status PATH`);
  return { statusPath, statusPublic: v["status-public"] ?? false, metricsPath, healthPath };
}
