// HTTP/2 over TLS chosen by ALPN (RFC 9113 §3.2, RFC 7301): a client that offers `h2` speaks it,
// one that offers only `http/1.1` (or no ALPN) speaks HTTP/1.1 on the same port, and `--http2 off`
// offers `http/1.1` alone. Real clients: curl (--http2, --http1.1), node:http2, openssl s_client.

import assert from "node:assert/strict";
import http2 from "node:http2";
import { type RunningServer, startServer } from "./_server.ts";
import { makePki, needs, runTool, type TestPki } from "./_tls.ts";
import { request } from "./_h2.ts";

/** A site of files whose bytes depend on their name and size, so a mix-up shows. */
async function site(): Promise<{ dir: string; files: Map<string, Uint8Array> }> {
  const dir = await Deno.makeTempDir({ prefix: "rawserve-h2tls-" });
  const files = new Map<string, Uint8Array>();
  for (const [i, size] of [13, 1_000, 16_384, 16_385, 70_000, 300_000, 1_048_576].entries()) {
    const bytes = new Uint8Array(size).map((_, j) => (j * 31 + i * 7) & 0xff);
    files.set(`/f${i}.bin`, bytes);
    await Deno.writeFile(`${dir}/f${i}.bin`, bytes);
  }
  return { dir, files };
}

async function withHttps(
  args: string[],
  fn: (server: RunningServer, pki: TestPki, files: Map<string, Uint8Array>) => Promise<void>,
): Promise<void> {
  const pki = makePki();
  const { dir, files } = await site();
  const server = await startServer(["--quiet", "--cert", pki.leaf.cert, "--key", pki.leaf.key, ...args, dir]);
  try {
    await fn(server, pki, files);
  } finally {
    await server.stop();
    pki.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

/** curl's answer: the body, then the HTTP version and status it reports. */
async function curl(args: string[], url: string): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: ["-sk", "-w", "\n%{http_version} %{http_code}", ...args, url],
    signal: AbortSignal.timeout(10_000),
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  ...needs("HTTPS: curl --http2 is answered over h2 and curl --http1.1 over HTTP/1.1 on the same port", [
    "openssl",
    "curl",
  ]),
  fn: () =>
    withHttps([], async (server, _pki, files) => {
      const url = `https://127.0.0.1:${server.port}/f0.bin`;
      const text = new TextDecoder().decode(files.get("/f0.bin"));
      assert.equal(await curl(["--http2"], url), `${text}\n2 200`);
      assert.equal(await curl(["--http1.1"], url), `${text}\n1.1 200`);
      assert.equal(await curl(["--http2", "--no-alpn"], url), `${text}\n1.1 200`, "no ALPN: HTTP/1.1");
      const head = await curl(["--http2", "-I"], `https://127.0.0.1:${server.port}/f6.bin`);
      assert.match(head, /^HTTP\/2 200/);
      assert.match(head, /content-length: 1048576/);
    }),
});

Deno.test({
  ...needs("HTTPS: node:http2 runs 120 concurrent streams on one TLS connection, every file byte-exact", [
    "openssl",
  ]),
  fn: () =>
    withHttps([], async (server, _pki, files) => {
      const session = http2.connect(`https://127.0.0.1:${server.port}`, { rejectUnauthorized: false });
      try {
        const paths = [...files.keys()];
        const answers = await Promise.all(
          Array.from({ length: 120 }, (_, i) => request(session, { ":path": paths[i % paths.length]! })),
        );
        answers.forEach((answer, i) => {
          assert.equal(answer.status, 200);
          assert.deepEqual(answer.body, files.get(paths[i % paths.length]!), `stream ${i}`);
        });
        const alpn = (session.socket as unknown as { alpnProtocol?: string }).alpnProtocol;
        assert.equal(alpn, "h2");
        const range = await request(session, { ":path": "/f6.bin", range: "bytes=100000-100009" });
        assert.equal(range.status, 206);
        assert.deepEqual(range.body, files.get("/f6.bin")!.subarray(100_000, 100_010));
      } finally {
        session.close();
      }
    }),
});

Deno.test({
  ...needs(
    "HTTPS: s_client offering h2,http/1.1 gets h2; with --http2 off, http/1.1, and h2 alone an alert",
    [
      "openssl",
    ],
  ),
  fn: async () => {
    for (const http2On of [true, false]) {
      await withHttps(http2On ? [] : ["--http2", "off"], async (server, pki) => {
        const both = await sClient(server.port, pki, ["-alpn", "h2,http/1.1"]);
        assert.match(both, http2On ? /ALPN protocol: h2\n/ : /ALPN protocol: http\/1\.1/);
        const reversed = await sClient(server.port, pki, ["-alpn", "http/1.1,h2"]);
        assert.match(reversed, http2On ? /ALPN protocol: h2\n/ : /ALPN protocol: http\/1\.1/, "ours decides");
        const h2only = await sClient(server.port, pki, ["-alpn", "h2"]);
        assert.match(h2only, http2On ? /ALPN protocol: h2\n/ : /no application protocol/);
      });
    }
  },
});

Deno.test({
  ...needs(
    "HTTPS: a name SNI moves to another certificate still gets h2 by ALPN (and not with --http2 off)",
    [
      "openssl",
    ],
  ),
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "rawserve-h2-sni-" });
    const other = { cert: `${dir}/other.pem`, key: `${dir}/other.key` };
    await runTool("openssl", [
      "req",
      "-x509",
      ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-keyout", other.key, "-out", other.cert, "-days", "2"],
      ...["-subj", "/CN=site a", "-addext", "subjectAltName=DNS:a.test"],
    ]);
    try {
      for (const http2On of [true, false]) {
        await withHttps(
          [...(http2On ? [] : ["--http2", "off"]), "--cert", other.cert, "--key", other.key],
          async (server, pki) => {
            const out = await sClient(server.port, pki, ["-servername", "a.test", "-alpn", "h2,http/1.1"]);
            assert.match(out, /subject=CN ?= ?site a/, "SNI chose the second pair");
            assert.match(out, http2On ? /ALPN protocol: h2\n/ : /ALPN protocol: http\/1\.1/);
          },
        );
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** openssl s_client's output (stdout and stderr) for a handshake with nothing sent after it. */
async function sClient(port: number, pki: TestPki, args: string[]): Promise<string> {
  const out = await runTool("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-CAfile",
    pki.ca,
    ...(args.includes("-servername") ? [] : ["-servername", "localhost"]),
    ...args,
  ], "");
  return out.stdout + out.stderr;
}
