// Several sites' certificates on one port (SNI, RFC 6066 §3): `--cert`/`--key` repeated, each
// certificate served to clients that ask for a name it was issued for (wildcards included), the
// first pair to everyone else. Clients: node:tls with `servername` (the certificate's subject
// read back), openssl s_client -servername. SIGHUP reloads every pair; a connection SNI moved to
// a context keeps a reference to it until it closes.

import assert from "node:assert/strict";
import * as nodeTls from "node:tls";
import { serveInProcess, sleep, startServer, stopOk } from "./_server.ts";
import { HAS_OPENSSL, needs, runTool } from "./_tls.ts";

/** Three self-signed pairs in a temp dir: the default (localhost), a.test, and *.b.test. */
function makeSites() {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-sni-" });
  const pair = (file: string, cn: string, san: string) => {
    const out = new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        ...["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
        ...["-keyout", `${dir}/${file}.key`, "-out", `${dir}/${file}.pem`, "-days", "2"],
        ...["-subj", `/CN=${cn}`, "-addext", `subjectAltName=${san}`],
      ],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return { cert: `${dir}/${file}.pem`, key: `${dir}/${file}.key` };
  };
  return {
    dir,
    pair,
    main: pair("main", "default site", "DNS:localhost"),
    a: pair("a", "site a", "DNS:a.test"),
    b: pair("b", "site b", "DNS:*.b.test"),
    remove: () => Deno.removeSync(dir, { recursive: true }),
  };
}

type Sites = ReturnType<typeof makeSites>;

function flags(sites: Sites): string[] {
  return [sites.main, sites.a, sites.b].flatMap((p) => ["--cert", p.cert, "--key", p.key]);
}

/**
 * Connects with `servername` (none: no SNI, as for an IP address), and returns the subject's CN
 * of the certificate served, with the socket (open, handshake done).
 */
function connect(port: number, servername?: string): Promise<{ cn: string; socket: nodeTls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = nodeTls.connect({
      host: "127.0.0.1",
      port,
      rejectUnauthorized: false, // the test reads which certificate came, not whether it is trusted
      ...(servername ? { servername } : {}),
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(() => reject(new Error("handshake timed out")), 5000);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve({ cn: String(socket.getPeerCertificate().subject?.CN ?? ""), socket });
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** One request on a connected socket: the status line of the answer. */
function ask(socket: nodeTls.TLSSocket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Uint8Array) => {
      text += new TextDecoder().decode(chunk);
      const end = text.indexOf("\r\n");
      if (end >= 0) {
        socket.off("data", onData);
        resolve(text.slice(0, end));
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

async function cnFor(port: number, servername?: string): Promise<string> {
  const { cn, socket } = await connect(port, servername);
  socket.destroy();
  return cn;
}

Deno.test({
  ...needs(
    "SNI: each name gets the certificate issued for it, wildcards too; any other name or none gets the first pair",
    [
      "openssl",
    ],
  ),
  fn: async () => {
    const sites = makeSites();
    const server = await startServer(["--quiet", ...flags(sites)]);
    try {
      for (
        const [name, expected] of [
          ["a.test", "site a"],
          ["A.Test", "site a"], // DNS names compare without case (RFC 4343)
          ["x.b.test", "site b"],
          ["www.b.test", "site b"],
          ["b.test", "default site"], // a wildcard stands for one label, never none
          ["y.x.b.test", "default site"], // ...nor two
          ["localhost", "default site"],
          ["unknown.test", "default site"],
          [undefined, "default site"],
        ] as const
      ) {
        assert.equal(await cnFor(server.port, name), expected, `servername ${name ?? "(none)"}`);
      }
      // The site answers over the connection SNI chose, as over any other.
      const { socket } = await connect(server.port, "a.test");
      try {
        assert.equal(await ask(socket, "a.test"), "HTTP/1.1 200 OK");
      } finally {
        socket.destroy();
      }
      const out = await runTool("openssl", [
        "s_client",
        ...["-connect", `127.0.0.1:${server.port}`, "-servername", "www.b.test"],
      ], "");
      assert.match(out.stdout, /subject=CN = site b/, out.stdout + out.stderr);
    } finally {
      await stopOk(server);
      sites.remove();
    }
  },
});

Deno.test({
  ...needs("SNI: SIGHUP reloads every pair; a connection made before keeps working on its certificate", [
    "openssl",
  ]),
  fn: async () => {
    const sites = makeSites();
    const server = await startServer(["--access-log", "/dev/null", ...flags(sites)]);
    try {
      const old = await connect(server.port, "a.test");
      assert.equal(old.cn, "site a");
      // New pairs written over the same files: the server reads these paths again.
      const v2 = {
        main: sites.pair("main2", "default site v2", "DNS:localhost"),
        a: sites.pair("a2", "site a v2", "DNS:a.test"),
      };
      for (const [from, to] of [[v2.main, sites.main], [v2.a, sites.a]] as const) {
        Deno.copyFileSync(from.cert, to.cert);
        Deno.copyFileSync(from.key, to.key);
      }
      Deno.kill(server.pid, "SIGHUP");
      for (let i = 0; i < 50 && (await cnFor(server.port, "a.test")) !== "site a v2"; i++) await sleep(100);
      assert.equal(await cnFor(server.port, "a.test"), "site a v2");
      assert.equal(await cnFor(server.port, "x.b.test"), "site b", "an unchanged pair is served as before");
      assert.equal(await cnFor(server.port), "default site v2");
      assert.equal(
        await ask(old.socket, "a.test"),
        "HTTP/1.1 200 OK",
        "the connection made before the reload",
      );
      old.socket.destroy();
      const stderr = await stopOk(server);
      assert.match(
        stderr,
        /SIGHUP: reloaded .*main\.pem \(\/CN=default site v2, .*a\.pem \(\/CN=site a v2, .*b\.pem/,
      );
    } finally {
      await server.stop();
      sites.remove();
    }
  },
});

Deno.test({
  ...needs(
    "SNI: a connection moved to a name's context holds a reference to it across a reload, and gives it back when it closes",
    ["openssl"],
  ),
  fn: async () => {
    const sites = makeSites();
    const { TlsServer } = await import("../../app/transport/tls.ts");
    const tls = new TlsServer({
      ...sites.main,
      others: [sites.a, sites.b],
      handshakeTimeoutMs: 5000,
      tickets: true,
    });
    const running = serveInProcess({ handler: () => ({ status: 200, headers: [], body: "ok\n" }), tls });
    try {
      const [main, a, b] = tls.contexts;
      const conn = await connect(running.port, "a.test");
      assert.equal(conn.cn, "site a");
      assert.equal(a!.references, 2, "the server's, and the connection's");
      assert.equal(b!.references, 1, "no connection chose b");
      assert.equal(main!.references, 2, "every connection begins on the default and holds it");
      assert.match(tls.reload(), /SIGHUP: reloaded/);
      assert.equal(a!.references, 1, "the server let go; the connection still holds it");
      assert.equal(b!.references, 0, "freed at once: nothing used it");
      assert.equal(await ask(conn.socket, "a.test"), "HTTP/1.1 200 OK");
      conn.socket.destroy();
      for (let i = 0; i < 50 && a!.references > 0; i++) await sleep(20);
      assert.equal(a!.references, 0, "given back when the connection closed");
      assert.equal(main!.references, 0);
    } finally {
      await running.stop();
      tls[Symbol.dispose]();
      sites.remove();
    }
  },
});

Deno.test({
  ...needs(
    "SNI: a --cert without its --key, or a pair that does not match, is refused at start in one line",
    ["openssl"],
  ),
  fn: async () => {
    const sites = makeSites();
    try {
      const { runCli } = await import("./_server.ts");
      const unpaired = await runCli([
        "--cert",
        sites.main.cert,
        "--key",
        sites.main.key,
        "--cert",
        sites.a.cert,
      ]);
      assert.notEqual(unpaired.code, 0);
      assert.match(
        unpaired.stderr,
        /Each --cert needs its --key, in the same order: 2 --cert and 1 --key given/,
      );
      const mismatched = await runCli([
        ...["--cert", sites.main.cert, "--key", sites.main.key, "--cert", sites.a.cert, "--key", sites.b.key],
      ]);
      assert.notEqual(mismatched.code, 0);
      assert.match(mismatched.stderr, /--key .*b\.key does not match --cert .*a\.pem/);
    } finally {
      sites.remove();
    }
  },
});

if (!HAS_OPENSSL) console.log("sni_test: no openssl CLI; the tests above are skipped");
