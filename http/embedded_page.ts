// The page rawserve serves when no directory is given, kept in memory as pre-encoded bytes.

/** Media type of the embedded page. */
export const EMBEDDED_TYPE = "text/html; charset=utf-8";

/** The embedded page, UTF-8. */
export const EMBEDDED_PAGE: Uint8Array = new TextEncoder().encode(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rawserve</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #222; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
</style>
</head>
<body>
<h1>rawserve is running</h1>
<p>This page is served from memory by an HTTP/1.1 server written in TypeScript whose whole
network path is Linux system calls made through Deno's FFI, on a single-threaded epoll reactor.</p>
<p>Serve a directory instead with <code>deno task start --root ./site</code>.</p>
</body>
</html>
`);
