// Running behind a load balancer or under a service manager, as the CLI wires it: which socket
// to serve (a TCP port, a Unix socket, one inherited from systemd or the parent), whose word on
// the client is taken (PROXY header, Forwarded, X-Forwarded-For), and the drain at SIGTERM.

import { adoptListener, type Listener } from "../../ffi/socket.ts";
import { listenUnix } from "../../ffi/unix_socket.ts";
import { StartupError } from "../../ffi/errno.ts";
import type { Handler, HttpRequest, Peer } from "../../http/types.ts";
import type { ProductionConfig } from "./production_flags.ts";
import { TrustedProxies } from "../transport/trusted_proxies.ts";
import {
  clientBehind,
  forwardedClient,
  type ForwardedRequest,
  forwardedScheme,
} from "../transport/forwarded.ts";

/** sd_listen_fds(3): the first descriptor systemd passes. */
const SD_LISTEN_FDS_START = 3;

/**
 * The listener the flags name instead of a TCP port: `--unix PATH`, `--fd N`, or the socket
 * systemd passed (LISTEN_FDS, for this process: LISTEN_PID); null to bind host and port.
 * @throws {StartupError} when systemd passed more than one socket, or the descriptor is no listener
 * @throws {SyscallError} when the Unix socket cannot be made
 */
export function chosenListener(config: ProductionConfig, backlog: number): Listener | null {
  if (config.unix) {
    return listenUnix(config.unix.path, config.unix.mode, backlog);
  }
  const fd = config.fd ?? systemdListener();
  if (fd === null) return null;
  try {
    return adoptListener(fd);
  } catch (e) {
    const how = config.fd !== null ? `--fd ${fd}` : `the socket systemd passed (descriptor ${fd})`;
    throw new StartupError(`Cannot serve on ${how}: ${e instanceof Error ? e.message : e}`);
  }
}

/** The name (LISTEN_FDNAMES, the socket unit's FileDescriptorName=) of the socket served when systemd passes several. */
const SD_HTTP_NAME = "http";

/**
 * The descriptor of systemd's socket activation (sd_listen_fds_with_names(3)), or null without
 * one: the only socket, or of several the one named `http`. The variables are removed once
 * read, as sd_listen_fds does, so no child takes them for its own.
 * @throws {StartupError} when several were passed and not exactly one is named `http`
 */
function systemdListener(): number | null {
  const pid = Deno.env.get("LISTEN_PID"), count = Deno.env.get("LISTEN_FDS");
  const names = Deno.env.get("LISTEN_FDNAMES");
  if (pid === undefined || count === undefined || Number(pid) !== Deno.pid) return null;
  for (const name of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) Deno.env.delete(name);
  if (count === "0") return null;
  if (count === "1") return SD_LISTEN_FDS_START;
  const passed = names?.split(":") ?? [];
  const n = Number(count);
  const http = passed.indexOf(SD_HTTP_NAME);
  if (
    !Number.isSafeInteger(n) || n < 1 || passed.length !== n || http < 0 ||
    passed.lastIndexOf(SD_HTTP_NAME) !== http
  ) {
    const which = names === undefined ? "no LISTEN_FDNAMES" : `named ${passed.join(", ")}`;
    throw new StartupError(
      `systemd passed ${count} sockets (LISTEN_FDS, ${which}); rawserve serves the one named ${SD_HTTP_NAME}: ` +
        `name it in its .socket unit with FileDescriptorName=${SD_HTTP_NAME}`,
    );
  }
  return SD_LISTEN_FDS_START + http;
}

/**
 * The client's address as the trusted proxies name it (Forwarded or X-Forwarded-For), given to
 * the handler as the request's peer: `info.remoteAddr`, the status page's loopback rule; and the
 * scheme the nearest one names (Forwarded's proto=, X-Forwarded-Proto), for an app's request.url.
 * @returns `handler` itself when no proxy is trusted
 */
export function withForwardedClient(handler: Handler, config: ProductionConfig): Handler {
  if (config.trustedProxies.length === 0) return handler;
  const trusted = new TrustedProxies(config.trustedProxies);
  const field = config.forwardedField;
  return (request) => {
    const address = request.peer.remoteAddress();
    if (!trusted.trusts(address)) return handler(request);
    const client = clientBehind(address, request.head.headers, trusted, field);
    const scheme = forwardedScheme(request.head.headers, field);
    if (scheme !== null) (request as ForwardedRequest).forwardedScheme = scheme;
    if (client !== address) {
      // The request is a plain object made for this request; its peer may be replaced.
      const forwarded: Peer = { remoteAddress: () => client, remotePort: () => 0 };
      (request as { peer: Peer } & HttpRequest).peer = forwarded;
    }
    return handler(request);
  };
}

/**
 * The access log's address for a response: the forwarded client when a trusted proxy names one.
 * @returns a function of the connection's peer and the request's fields
 */
export function logAddress(
  config: ProductionConfig,
): (peer: string, headers: readonly string[] | null) => string {
  if (config.trustedProxies.length === 0) return (peer) => peer;
  const trusted = new TrustedProxies(config.trustedProxies);
  return (peer, headers) => headers ? forwardedClient(peer, headers, trusted, config.forwardedField) : peer;
}
