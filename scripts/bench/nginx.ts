// nginx's configuration per scenario, in the form measured fastest on this machine.

import type { Bench } from "./context.ts";
import { IDLE_FD_MARGIN, IDLE_KEEPALIVE_S, type LoadScenario, PAGE_TYPE } from "./scenarios.ts";
import { decoder } from "./util.ts";

/**
 * nginx's settings per scenario, and why each is its fastest form here. Measured 2026-11-25 on this machine (servers on CPU 0,
 * wrk -t1 on CPU 1, three alternating 3-4 s runs, server CPU µs per request):
 * - nginx, the 688-byte page: as a file 15.0 (sendfile on), 10.6 with open_file_cache, 5.6 with
 *   `return 200 "..."` from memory. rawserve answers it from memory too: `return` it is.
 * - nginx, the 13-byte file: sendfile on 14.7, off 10.4-11.7, on + open_file_cache 9.5-10.9,
 *   off + open_file_cache 6.2-7.5: `sendfile off; open_file_cache`.
 * - nginx, the 1 MiB file (10 connections): sendfile on + tcp_nopush off 69-96, the same with
 *   open_file_cache 66-92, tcp_nopush on 276-323 (TCP_CORK), sendfile off 196-200:
 *   `sendfile on; tcp_nopush off; open_file_cache`.
 * - nginx, the 62 KB gzip sidecar (gzip_static on, 2026-11-25, two alternating pairs of 3 s runs):
 *   sendfile on + tcp_nopush off 12.3 and 14.5, sendfile off 16.4 and 17.1: sendfile on.
 * - nginx over HTTP/2 (h2-13, h2-64k, h2-page) and the page over HTTPS/1.1 (https-page): over TLS
 *   without kTLS nginx cannot sendfile through OpenSSL, so `sendfile` does not apply;
 *   `open_file_cache` keeps it from opening each file per request (what made the 13-byte file
 *   fastest over HTTP/1.1). `http2_chunk_size 16k` (DATA frames of a TLS record) against the
 *   default 8k, two alternating pairs of 2×3 s runs on a quiet machine (2026-12-06): h2-13 9.02
 *   and 8.92 against 9.06 and 8.98, h2-64k 71.8 and 70.8 against 71.3 and 71.4, h2-page 27.5 and
 *   27.0 against 27.1 and 27.0: no difference, so the http2 module's defaults stay.
 * - Deno.serve: a string body for text, built once; a fresh or shared init object and no
 *   Content-Type at all were within noise of each other (9.4-11.0 µs), so the page keeps its type.
 */
const NGINX_SETTINGS: Record<LoadScenario["nginx"], string> = {
  memory: "sendfile off;",
  "small-file": "sendfile off; open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
  "gzip-static": "gzip_static on; gzip_vary on; sendfile on; tcp_nopush off; " +
    "open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
  h2: "sendfile off; open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
  "large-file":
    "sendfile on; tcp_nopush off; open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;",
};

/** nginx.conf for one scenario, in its fastest form there (NGINX_SETTINGS). */
export function nginxConfig(bench: Bench, port: number, scenario: LoadScenario): string {
  const dir = bench.dir;
  const connections = Math.max(20_000, bench.opts.idleConnections + IDLE_FD_MARGIN);
  // One process, no master: the PID we spawn is the one that serves, as for the Deno servers.
  return `worker_processes 1;
daemon off;
master_process off;
worker_rlimit_nofile ${connections + 64};
error_log ${dir}/nginx-error.log warn;
pid ${dir}/nginx-${port}.pid;
events { worker_connections ${connections}; }
http {
  access_log off;
  ${NGINX_SETTINGS[scenario.nginx]}
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout ${IDLE_KEEPALIVE_S}s;
  charset utf-8;
  client_body_temp_path ${dir}/nginx-tmp/body;
  proxy_temp_path ${dir}/nginx-tmp/proxy;
  fastcgi_temp_path ${dir}/nginx-tmp/fastcgi;
  uwsgi_temp_path ${dir}/nginx-tmp/uwsgi;
  scgi_temp_path ${dir}/nginx-tmp/scgi;
  types {
    text/html html; text/plain txt; text/javascript js; text/css css; application/gzip gz;
    application/octet-stream bin; image/svg+xml svg; image/jpeg jpg; image/webp webp;
    font/woff2 woff2; image/x-icon ico; application/json json;
  }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${scenario.tls ? " ssl" : ""}${
    scenario.nginx === "h2" ? " http2" : ""
  } backlog=4096;
    ${scenario.tls ? nginxTls(bench) : ""}
    ${scenario.noTickets ? "ssl_session_tickets off;" : ""}
    root ${bench.site};
    ${nginxRoot(bench, scenario)}
  }
}
`;
}

/**
 * nginx's TLS with the same certificate and rawserve's choices: TLS 1.2 and 1.3, OpenSSL's default
 * ciphers, session tickets (nginx's default) and no session cache (nginx's default "none").
 */
function nginxTls(bench: Bench): string {
  return `ssl_certificate ${bench.tls!.cert}; ssl_certificate_key ${bench.tls!.key};
    ssl_protocols TLSv1.2 TLSv1.3;`;
}

/** The location for "/": the page returned from memory, or files from the site. */
function nginxRoot(bench: Bench, scenario: LoadScenario): string {
  if (scenario.nginx !== "memory") return "location = / { try_files /index.html =404; }";
  // An nginx string: backslashes and double quotes escaped; the page has no "$" (no variables).
  const text = decoder.decode(bench.page).replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return `location = / { default_type "${PAGE_TYPE}"; charset off; return 200 "${text}"; }`;
}
