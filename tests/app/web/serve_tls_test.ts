// serve() over HTTPS, with cert and key as PEM text as Deno.serve takes them: Deno's fetch
// trusting the test CA, request URLs with https://, the pair checked with a clear error, and the
// PEM never written to a disk (it reaches OpenSSL through memfd files, closed once loaded).

import assert from "node:assert/strict";
import { serve } from "../../../mod.ts";
import http2 from "node:http2";
import { makePki, needs } from "../../e2e/_tls.ts";
import { request } from "../../e2e/_h2.ts";

const text = (path: string) => Deno.readTextFileSync(path);

Deno.test({
  ...needs("serve({ cert, key }) answers over HTTPS with https:// request URLs", ["openssl"]),
  async fn() {
    const pki = makePki();
    const client = Deno.createHttpClient({ caCerts: [pki.caPem] });
    let listened = "";
    const server = serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: text(pki.leaf.cert),
      key: text(pki.leaf.key),
      onListen: ({ port }) => listened = `listening on ${port}`,
    }, (request) => Response.json({ url: request.url }));
    try {
      const response = await fetch(`https://localhost:${server.addr.port}/a?b=1`, { client });
      assert.deepEqual(await response.json(), { url: `https://localhost:${server.addr.port}/a?b=1` });
      assert.equal(listened, `listening on ${server.addr.port}`);
      const fds = [...Deno.readDirSync("/proc/self/fd")].map((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`);
        } catch {
          return "";
        }
      });
      assert.ok(!fds.some((link) => link.includes("memfd:rawserve")), "the memfd files are closed");
    } finally {
      client.close();
      await server.shutdown();
      pki.remove();
    }
  },
});

Deno.test({
  ...needs("serve({ cert, key }) speaks h2 to a client that offers it by ALPN, streamed bodies both ways", [
    "openssl",
  ]),
  async fn() {
    const pki = makePki();
    const server = serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: text(pki.leaf.cert),
      key: text(pki.leaf.key),
      onListen: () => {},
    }, (request) => new Response(request.body, { headers: { "x-url": request.url } }));
    const session = http2.connect(`https://127.0.0.1:${server.addr.port}`, { rejectUnauthorized: false });
    try {
      const body = new Uint8Array(500_000).map((_, i) => i * 3);
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => request(session, { ":path": `/e${i}`, ":method": "POST" }, body)),
      );
      answers.forEach((answer, i) => {
        assert.equal(answer.status, 200);
        assert.equal(answer.headers["x-url"], `https://127.0.0.1:${server.addr.port}/e${i}`);
        assert.deepEqual(answer.body, body);
      });
      assert.equal((session.socket as unknown as { alpnProtocol?: string }).alpnProtocol, "h2");
    } finally {
      session.close();
      await server.shutdown();
      pki.remove();
    }
  },
});

Deno.test({
  ...needs("serve() with a key that does not match its certificate rejects finished with one line", [
    "openssl",
  ]),
  async fn() {
    const pki = makePki();
    try {
      const server = serve({
        hostname: "127.0.0.1",
        port: 0,
        cert: text(pki.leaf.cert),
        key: text(pki.leaf2.key),
        onListen: () => assert.fail("it must not listen with a bad pair"),
      }, () => new Response("no"));
      await assert.rejects(server.finished, /the key option does not match the cert option/);
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
    } finally {
      pki.remove();
    }
  },
});

Deno.test("serve() refuses a cert without a key at once, and text that is no PEM through finished", async () => {
  assert.throws(
    () => serve({ port: 0, cert: "-----BEGIN CERTIFICATE-----" }, () => new Response("x")),
    /needs both cert and key/,
  );
  const server = serve(
    { hostname: "127.0.0.1", port: 0, cert: "not pem", key: "nor this" },
    () => new Response("x"),
  );
  await assert.rejects(server.finished, /Cannot use the cert option: it holds no PEM certificate/);
});
