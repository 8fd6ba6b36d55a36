// rawserve's help text and version: what --help and --version print. Defaults shown in it come
// from the modules that own them, so the text cannot drift from what the server does.

import { DEFAULTS, FD_RESERVE } from "../defaults.ts";
import { YIELD_INTERVAL_MS } from "../../loop/reactor.ts";
import { IDLE_SPINS } from "../../loop/wait_policy.ts";
import { IMMUTABLE } from "../../http/static/cache_policy.ts";
import { PRODUCTION_USAGE } from "./production_flags.ts";

/** rawserve's version, printed by --version and in the Server field's documentation. */
export const VERSION = "0.1.0";

/**
 * The help text.
 * @param command the command as it was run (e.g. `rawserve`, `deno task start`), for the usage line
 */
export function usage(command: string): string {
  return `rawserve ${VERSION}: an HTTP/1.1, HTTP/2 and WebSocket server on raw Linux syscalls (Linux x86-64)

Usage: ${command} [options] [DIR]

Serves DIR (or --root DIR) as static files, or an application (--app); without either, an
embedded page. Paths are taken from the directory you start it in.

Options:
  --root DIR                directory to serve (also accepted as the last argument)
  --app MODULE              serve a module whose default export has fetch(request, info)
                            (the \`deno serve\` convention)
  --no-listing              answer 404 for directories without index.html
  --dotfiles                serve files and directories whose names start with a dot
  --follow-symlinks         follow symbolic links that lead outside DIR
  --cache-control VALUE     Cache-Control for files --immutable does not match, HTML included
                            (default "no-cache"; "" for none)
  --immutable GLOB          files whose path matches GLOB are fingerprinted: Cache-Control
                            "${IMMUTABLE}" (repeatable; e.g. '/assets/*',
                            '*.woff2'; * matches across /); HTML never is
  --compress on|off         send compressed forms: a file's precompressed .br/.zst/.gz beside it,
                            or br/zstd/gzip copies of text made once per file version (default on)
  --spa                     a missing path without an extension gets the root's index.html
                            (the routes of a single-page app); /missing.js stays 404
  --cors ORIGIN             let pages from ORIGIN read the files (repeatable; * for any origin),
                            e.g. --cors https://app.example.com
  --auth-file FILE          ask for a user name and password (HTTP Basic) from FILE's users: an
                            htpasswd file with bcrypt hashes (htpasswd -B -c FILE USER)
  --auth-paths GLOB         ask only for paths matching GLOB (repeatable; default every path)
  --auth-realm TEXT         the name a browser's prompt shows (default "rawserve")
  --header "NAME: VALUE"    add a field to every response, error answers included (repeatable),
                            e.g. --header "X-Frame-Options: DENY"
  --access-log FILE         append a line per response to FILE (default: stdout; - for stdout)
  --log-format FORMAT       common (Common Log Format), combined (with Referer and User-Agent),
                            each followed by the request time in seconds; or json (default common)
  --log-operator-paths      log requests to --status, --metrics and --health too (default: not)
  --stats-interval SECONDS  print counters every SECONDS (they always print at shutdown)
  -H, --host ADDR           IPv4/IPv6 literal or localhost (default 127.0.0.1; 0.0.0.0 for the LAN)
  -p, --port N              TCP port, 0 for an ephemeral one (default 8080)
  --backlog N               listen(2) backlog (default ${DEFAULTS.backlog})
  --max-connections N       stop accepting beyond N open connections
                            (default: open-file limit minus ${FD_RESERVE})
  --header-timeout SECONDS  time to send a request head, 408 after (default ${
    DEFAULTS.headerTimeoutMs / 1000
  })
  --idle-timeout SECONDS    keep-alive idle time (default ${DEFAULTS.idleTimeoutMs / 1000})
  --body-timeout SECONDS    request body stall limit (default ${DEFAULTS.bodyTimeoutMs / 1000})
  --write-timeout SECONDS   response stall limit for clients that stop reading (default ${
    DEFAULTS.writeTimeoutMs / 1000
  })
  --shutdown-timeout SECONDS  graceful shutdown bound (default ${DEFAULTS.shutdownTimeoutMs / 1000})
  --max-body BYTES          largest request body, 413 beyond (default ${DEFAULTS.maxBodyBytes})
  --max-body-memory BYTES   request-body bytes all connections may hold, 503 beyond
                            (default ${DEFAULTS.maxBodyMemoryBytes})
  --max-websocket-memory BYTES  received WebSocket message bytes all sockets may hold (--app);
                            a socket past it closes with 1013 (default ${DEFAULTS.maxWebSocketMemoryBytes})
  --cert FILE               serve HTTPS with this PEM certificate (the chain may follow it)
  --key FILE                the certificate's PEM private key (unencrypted); SIGHUP reloads both;
                            repeat the pair for more sites: SNI picks the one issued for the
                            name asked, the first pair is the default
  --tls-tickets on|off      TLS session tickets, for resumed handshakes (default on)
  --http2 on|off            HTTP/2: offered as h2 by ALPN over TLS, and h2c for clients that open
                            with its preface on a cleartext port (RFC 9113 §3.3; default on)
  --handshake-timeout SECONDS  a TLS handshake must finish within SECONDS (default ${
    DEFAULTS.handshakeTimeoutMs / 1000
  })
  --workers N|auto          N processes with SO_REUSEPORT sockets (default 1; auto = CPUs)
  --sndbuf BYTES            SO_SNDBUF for connections (the kernel doubles it); prints the result
  --rcvbuf BYTES            SO_RCVBUF for connections (the kernel doubles it); prints the result
  --no-delay on|off         TCP_NODELAY on accepted sockets (default on)
  --yield-interval MS       longest run of I/O before Deno's event loop gets a turn
                            (default ${YIELD_INTERVAL_MS}: after every batch of events)
  --idle-spins N            empty polls before blocking in epoll_wait (default ${IDLE_SPINS})
  --quiet                   no access log and no counters at shutdown (the start-up line
                            with the URL is always printed)
  --status PATH             a live page of every connection's kernel state at PATH (HTML,
                            or JSON for Accept: application/json); loopback clients only
  --status-public           answer --status to any client
  --metrics PATH            Prometheus text exposition at PATH
  --health PATH             200 "ok" at PATH while serving, 503 while draining
${PRODUCTION_USAGE}
  -h, --help                show this help
  -V, --version             print the version

Ctrl-C (SIGINT) or SIGTERM stops gracefully; a second Ctrl-C stops at once.`;
}
