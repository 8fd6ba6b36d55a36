// The CLI behind a load balancer, with hand-built PROXY headers (v1 and v2) and forwarded
// fields over real sockets: the client they name is what the access log, the status page (with
// the balancer's address) and an app's info.remoteAddr see; a malformed, slow or untrusted
// header closes the connection and is counted; an untrusted peer's fields are never believed.

import assert from "node:assert/strict";
import { bytes, concat, exchange, readResponses, startServer, writeAll } from "./_server.ts";
import { v2 } from "../app/transport/_proxy_headers.ts";
import { makePki, needs } from "./_tls.ts";

const REQUEST = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const port = (n: number) => [n >> 8, n & 0xff];
const V2_CLIENT = v2(1, 0x11, [198, 51, 100, 9, 127, 0, 0, 1, ...port(4444), ...port(80)]);
const V2_LOCAL = v2(0, 0x00, []);
const APP = new URL("./apps/remote_addr.ts", import.meta.url).pathname;

Deno.test("--proxy-protocol: the client a v1 or v2 header names is the access log's; v2 LOCAL keeps the real peer", async () => {
  const server = await startServer(["--proxy-protocol", "--trusted-proxy", "127.0.0.1"]);
  try {
    const v1 = await exchange(server.port, `PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n${REQUEST}`);
    assert.equal(v1.responses[0]?.status, 200);
    const two = await exchange(server.port, concat([V2_CLIENT, bytes(REQUEST)]));
    assert.equal(two.responses[0]?.status, 200);
    const local = await exchange(server.port, concat([V2_LOCAL, bytes(REQUEST)]));
    assert.equal(local.responses[0]?.status, 200);
    const v6 = await exchange(server.port, `PROXY TCP6 2001:db8::17 ::1 7 80\r\n${REQUEST}`);
    assert.equal(v6.responses[0]?.status, 200);
  } finally {
    await server.stop();
  }
  const clients = server.stdoutLines.filter((l) => l.includes('"GET / HTTP/1.1"')).map((l) =>
    l.split(" ")[0]
  );
  assert.deepEqual(clients, ["203.0.113.7", "198.51.100.9", "127.0.0.1", "2001:db8::17"]);
});

Deno.test("--proxy-protocol: a header in pieces is waited for; malformed, missing and slow ones close the connection and are counted", async () => {
  const server = await startServer([
    "--proxy-protocol",
    "--trusted-proxy",
    "127.0.0.1/8",
    "--header-timeout",
    "1",
  ]);
  let stderr = "";
  try {
    // In three writes, the request in the last with the header's end.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, bytes("PROXY TCP4 203.0"));
    await new Promise((r) => setTimeout(r, 100));
    await writeAll(conn, bytes(".113.8 127.0.0.1 "));
    await new Promise((r) => setTimeout(r, 100));
    await writeAll(conn, bytes(`1 80\r\n${REQUEST}`));
    const pieces = await readResponses(conn);
    conn.close();
    assert.equal(pieces.responses[0]?.status, 200);
    for (
      const bad of [
        "PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n",
        "GET / HTTP/1.1\r\n",
        `PROXY ${"x".repeat(200)}`,
      ]
    ) {
      const answer = await exchange(server.port, bad + REQUEST);
      assert.deepEqual([answer.responses.length, answer.closed], [0, true], bad);
    }
    // Slow: part of a header, then nothing; closed after --header-timeout.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(slow, bytes("PROXY TCP4 "));
    const started = Date.now();
    const closed = await readResponses(slow, { timeoutMs: 4000 });
    slow.close();
    assert.ok(closed.closed && closed.raw.length === 0, "closed without an answer");
    assert.ok(
      Date.now() - started >= 800 && Date.now() - started < 3000,
      `closed after ${Date.now() - started} ms`,
    );
  } finally {
    stderr = (await server.stop()).stderr;
  }
  assert.match(stderr, /proxy header malformed 1/);
  assert.match(stderr, /proxy header missing 1/);
  assert.match(stderr, /proxy header too long 1/);
  assert.match(stderr, /proxy header timeout 1/);
  assert.equal(server.stdoutLines.filter((l) => l.startsWith("203.0.113.8 ")).length, 1);
});

Deno.test("--proxy-protocol: a connection from a source not in --trusted-proxy is closed unanswered and counted", async () => {
  const server = await startServer(["--proxy-protocol", "--trusted-proxy", "10.0.0.0/8"]);
  let stderr = "";
  try {
    const answer = await exchange(server.port, `PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n${REQUEST}`);
    assert.deepEqual([answer.responses.length, answer.closed], [0, true]);
  } finally {
    stderr = (await server.stop()).stderr;
  }
  assert.match(stderr, /proxy untrusted source 1/);
  assert.equal(server.stdoutLines.filter((l) => l.includes("GET /")).length, 0);
});

Deno.test("--proxy-protocol: the status page answers by the client's address, and shows the balancer's", async () => {
  const server = await startServer([
    "--proxy-protocol",
    "--trusted-proxy",
    "127.0.0.1",
    "--status",
    "/status",
  ]);
  try {
    // A keep-alive connection from a named client stays open while the status is read.
    const held = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(held, concat([V2_CLIENT, bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")]));
    await readResponses(held, { responses: 1 });
    const status =
      "GET /status HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
    // The client is not on loopback: the status page is private.
    const remote = await exchange(server.port, concat([V2_CLIENT, bytes(status)]));
    assert.equal(remote.responses[0]?.status, 403);
    // The balancer's own request (LOCAL) is from loopback.
    const local = await exchange(server.port, concat([V2_LOCAL, bytes(status)]));
    assert.equal(local.responses[0]?.status, 200);
    const rows = JSON.parse(new TextDecoder().decode(local.responses[0]!.body)).connections.rows as {
      peer: string;
      via: string | null;
    }[];
    held.close();
    const row = rows.find((r) => r.peer === "198.51.100.9:4444");
    assert.ok(row, JSON.stringify(rows));
    assert.match(row.via ?? "", /^127\.0\.0\.1:\d+$/);
  } finally {
    await server.stop();
  }
});

Deno.test("--trusted-proxy: X-Forwarded-For and Forwarded name the client for the log and info.remoteAddr; an untrusted peer's are ignored", async () => {
  const trusted = await startServer(["--app", APP, "--trusted-proxy", "127.0.0.1"]);
  const viaForwarded = await startServer([
    "--app",
    APP,
    "--trusted-proxy",
    "127.0.0.1",
    "--forwarded-field",
    "forwarded",
  ]);
  const untrusted = await startServer(["--app", APP, "--trusted-proxy", "10.0.0.0/8"]);
  const ask = async (p: number, fields: string) => {
    const { responses } = await exchange(
      p,
      `GET / HTTP/1.1\r\nHost: localhost\r\n${fields}Connection: close\r\n\r\n`,
    );
    return new TextDecoder().decode(responses[0]!.body);
  };
  try {
    assert.equal(await ask(trusted.port, "X-Forwarded-For: 203.0.113.50\r\n"), "203.0.113.50");
    // A client's own X-Forwarded-For, then the proxy's: the proxy's word.
    assert.equal(await ask(trusted.port, "X-Forwarded-For: 127.0.0.1, 203.0.113.51\r\n"), "203.0.113.51");
    assert.equal(await ask(trusted.port, "Forwarded: for=203.0.113.52\r\n"), "127.0.0.1", "the other field");
    assert.equal(await ask(viaForwarded.port, 'Forwarded: for="[2001:db8::5]:77"\r\n'), "2001:db8::5");
    assert.equal(await ask(untrusted.port, "X-Forwarded-For: 203.0.113.53\r\n"), "127.0.0.1");
    assert.equal(await ask(untrusted.port, "Forwarded: for=203.0.113.54\r\n"), "127.0.0.1");
  } finally {
    await Promise.all([trusted.stop(), viaForwarded.stop(), untrusted.stop()]);
  }
  const clients = (lines: string[]) => lines.filter((l) => l.includes('"GET /')).map((l) => l.split(" ")[0]);
  assert.deepEqual(clients(trusted.stdoutLines), ["203.0.113.50", "203.0.113.51", "127.0.0.1"]);
  assert.deepEqual(clients(untrusted.stdoutLines), ["127.0.0.1", "127.0.0.1"]);
});

Deno.test("--trusted-proxy: X-Forwarded-Proto and Forwarded's proto= set request.url's scheme; only http or https, only from a trusted peer", async () => {
  const app = new URL("./apps/hello_app.ts", import.meta.url).pathname;
  const trusted = await startServer(["--app", app, "--trusted-proxy", "127.0.0.1"]);
  const viaForwarded = await startServer([
    "--app",
    app,
    "--trusted-proxy",
    "127.0.0.1",
    "--forwarded-field",
    "forwarded",
  ]);
  const untrusted = await startServer(["--app", app, "--trusted-proxy", "10.0.0.0/8"]);
  const url = async (p: number, fields: string) => {
    const { responses } = await exchange(
      p,
      `GET /a?b=1 HTTP/1.1\r\nHost: example.test\r\n${fields}Connection: close\r\n\r\n`,
    );
    return JSON.parse(new TextDecoder().decode(responses[0]!.body)).url;
  };
  try {
    assert.equal(await url(trusted.port, ""), "http://example.test/a?b=1");
    assert.equal(await url(trusted.port, "X-Forwarded-Proto: https\r\n"), "https://example.test/a?b=1");
    assert.equal(await url(trusted.port, "X-Forwarded-Proto: HTTPS\r\n"), "https://example.test/a?b=1");
    // The right-most value is the trusted peer's own word.
    assert.equal(await url(trusted.port, "X-Forwarded-Proto: http, https\r\n"), "https://example.test/a?b=1");
    assert.equal(await url(trusted.port, "X-Forwarded-Proto: https, http\r\n"), "http://example.test/a?b=1");
    assert.equal(await url(trusted.port, "X-Forwarded-Proto: javascript\r\n"), "http://example.test/a?b=1");
    assert.equal(
      await url(trusted.port, "Forwarded: proto=https\r\n"),
      "http://example.test/a?b=1",
      "the other field",
    );
    assert.equal(
      await url(viaForwarded.port, 'Forwarded: for=203.0.113.9;proto="https"\r\n'),
      "https://example.test/a?b=1",
    );
    assert.equal(
      await url(viaForwarded.port, "Forwarded: proto=https, for=198.51.100.1;proto=http\r\n"),
      "http://example.test/a?b=1",
    );
    assert.equal(await url(viaForwarded.port, "Forwarded: proto=ftp\r\n"), "http://example.test/a?b=1");
    assert.equal(await url(viaForwarded.port, "X-Forwarded-Proto: https\r\n"), "http://example.test/a?b=1");
    assert.equal(await url(untrusted.port, "X-Forwarded-Proto: https\r\n"), "http://example.test/a?b=1");
    assert.equal(await url(untrusted.port, "Forwarded: proto=https\r\n"), "http://example.test/a?b=1");
  } finally {
    await Promise.all([trusted.stop(), viaForwarded.stop(), untrusted.stop()]);
  }
});

const TLS_TEST = needs(
  "--proxy-protocol in front of TLS: the header comes before the ClientHello (curl --haproxy-protocol)",
  [
    "openssl",
    "curl",
  ],
);
Deno.test({
  ...TLS_TEST,
  fn: async () => {
    const pki = makePki();
    const server = await startServer([
      "--app",
      APP,
      "--cert",
      pki.leaf.cert,
      "--key",
      pki.leaf.key,
      "--proxy-protocol",
      "--trusted-proxy",
      "127.0.0.1",
    ]);
    try {
      // curl sends "PROXY TCP4 127.0.0.1 127.0.0.1 PORT PORT" with its own address, then TLS.
      const out = await new Deno.Command("curl", {
        args: [
          "-s",
          "-m",
          "5",
          "--haproxy-protocol",
          "--cacert",
          pki.ca,
          `https://localhost:${server.port}/`,
        ],
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(out.stdout), "127.0.0.1");
      // Without the header, the ClientHello is no header: closed, counted.
      const plain = await new Deno.Command("curl", {
        args: ["-s", "-m", "5", "--cacert", pki.ca, `https://localhost:${server.port}/`],
        stdout: "piped",
      }).output();
      assert.notEqual(plain.code, 0);
    } finally {
      const { stderr } = await server.stop();
      pki.remove();
      assert.match(stderr, /proxy header missing 1/);
    }
  },
});
