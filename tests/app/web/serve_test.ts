// serve() end to end, in this process: Deno's fetch and raw sockets against the library. The
// same file runs a second time in a child process with RAWSERVE_WEB_PUBLIC=1 (the last test), so
// both the private fast paths and the public-API fallback are held to the same answers.

import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../../../mod.ts";
import type { FetchHandler } from "../../../app/web/handler.ts";
import { LAZY_REQUESTS } from "../../../app/web/request.ts";
import { PRIVATE_RESPONSE_PATHS } from "../../../app/web/response.ts";
import { bytes, concat, exchange, get, readResponses, sleep, writeAll } from "../../e2e/_server.ts";

const PUBLIC = Deno.env.get("RAWSERVE_WEB_PUBLIC") === "1";
const text = (b: Uint8Array) => new TextDecoder().decode(b);
/**
 * Through the public API a static body is only a stream: its length is unknown until read, so
 * it goes chunked (correct, only less informative). The private paths know it.
 */
const STATIC = (length: number) => PUBLIC ? "chunked" : `length ${length}`;

/** Runs `fn` against serve() on an ephemeral loopback port, then shuts it down. */
async function withServe(
  handler: FetchHandler,
  fn: (port: number, base: string) => Promise<void>,
  options: ServeOptions = {},
): Promise<void> {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen: () => {}, ...options }, handler);
  try {
    await fn(server.addr.port, `http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

Deno.test(`the web paths in use are the ones asked for (${PUBLIC ? "public API" : "private fast paths"})`, () => {
  assert.equal(LAZY_REQUESTS, !PUBLIC);
  assert.deepEqual(PRIVATE_RESPONSE_PATHS, { fast: !PUBLIC, inner: !PUBLIC });
});

Deno.test("the request is a real Request: absolute URL, method, headers, remote address", async () => {
  const seen: unknown[] = [];
  await withServe((request, info) => {
    seen.push({
      isRequest: request instanceof Request,
      url: request.url,
      method: request.method,
      accept: request.headers.get("accept"),
      multi: request.headers.get("x-multi"),
      remote: info.remoteAddr.hostname,
      transport: info.remoteAddr.transport,
      portOk: info.remoteAddr.port > 0,
      bodyNull: request.body === null,
      cloneUrl: request.clone().url,
    });
    return new Response("ok");
  }, async (port) => {
    const raw = "GET /a/b?c=1 HTTP/1.1\r\nHost: example.test:99\r\nAccept: text/x\r\n" +
      "X-Multi: 1\r\nX-Multi: 2\r\n\r\n" +
      "GET http://other.test/abs?x HTTP/1.1\r\nHost: other.test\r\n\r\n" +
      "GET /old HTTP/1.0\r\n\r\n";
    const { responses } = await exchange(port, raw, { responses: 3 });
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
  });
  const base = { isRequest: true, remote: "127.0.0.1", transport: "tcp", portOk: true, bodyNull: true };
  assert.deepEqual(seen, [
    {
      ...base,
      url: "http://example.test:99/a/b?c=1",
      cloneUrl: "http://example.test:99/a/b?c=1",
      method: "GET",
      accept: "text/x",
      multi: "1, 2",
    },
    {
      ...base,
      url: "http://other.test/abs?x",
      cloneUrl: "http://other.test/abs?x",
      method: "GET",
      accept: null,
      multi: null,
    },
    // HTTP/1.0 without Host: the listener's address is the authority.
    {
      ...base,
      url: seen[2] && (seen[2] as { url: string }).url,
      method: "GET",
      accept: null,
      multi: null,
      cloneUrl: (seen[2] as { url: string }).url,
    },
  ]);
  assert.match((seen[2] as { url: string }).url, /^http:\/\/127\.0\.0\.1:\d+\/old$/);
});

Deno.test("request headers are immutable, as a server's requests are", async () => {
  let threw = "";
  await withServe((request) => {
    try {
      request.headers.set("x", "y");
    } catch (e) {
      threw = (e as Error).name;
    }
    return new Response(null, { status: 204 });
  }, async (_port, base) => {
    assert.equal((await fetch(base)).status, 204);
  });
  assert.equal(threw, "TypeError");
});

Deno.test("every body a client sends arrives: text, bytes, JSON, form, multipart, chunked", async () => {
  await withServe(async (request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/text":
        return new Response(`text:${await request.text()}`);
      case "/bytes":
        return new Response(`bytes:${(await request.bytes()).join(",")}`);
      case "/json":
        return Response.json({ got: await request.json() });
      case "/form": {
        const form = await request.formData();
        const file = form.get("file");
        return Response.json({
          a: form.getAll("a"),
          file: file instanceof File ? [file.name, await file.text()] : null,
        });
      }
      default:
        return new Response("?", { status: 404 });
    }
  }, async (port, base) => {
    const post = async (path: string, body: BodyInit) =>
      await (await fetch(base + path, { method: "POST", body })).text();
    assert.equal(await post("/text", "héllo"), "text:héllo");
    assert.equal(await post("/bytes", new Uint8Array([0, 1, 255])), "bytes:0,1,255");
    assert.equal(await post("/json", JSON.stringify({ a: [1, "b"] })), '{"got":{"a":[1,"b"]}}');
    assert.equal(
      await post("/form", new URLSearchParams([["a", "1"], ["a", "x y"]])),
      '{"a":["1","x y"],"file":null}',
    );
    const form = new FormData();
    form.append("a", "v");
    form.append("file", new File(["file body"], "f.txt", { type: "text/plain" }));
    assert.equal(await post("/form", form), '{"a":["v"],"file":["f.txt","file body"]}');
    assert.equal(await post("/text", new Blob(["from a blob"])), "text:from a blob");
    const stream = ReadableStream.from([new TextEncoder().encode("stre"), new TextEncoder().encode("amed")]);
    assert.equal(await post("/text", stream), "text:streamed");
    const chunked = "POST /text HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
    const { responses } = await exchange(port, chunked + get("/text"), { responses: 2 });
    assert.deepEqual(responses.map((r) => text(r.body)), ["text:abcde", "text:"]);
  });
});

Deno.test("a body read whole keeps the Request semantics: exact buffers, blob type, clones, one read only", async () => {
  await withServe(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/clone") {
      const copy = request.clone();
      return Response.json([await request.text(), await copy.text()]);
    }
    if (path === "/blob") {
      const blob = await request.blob();
      return Response.json([blob.type, blob.size, await blob.text()]);
    }
    const buffer = await request.arrayBuffer();
    const again = await request.text().then(() => "read twice", (e) => `${e.name}: ${request.bodyUsed}`);
    return Response.json([buffer.byteLength, new TextDecoder().decode(buffer), again]);
  }, async (_port, base) => {
    const post = async (path: string, body: BodyInit, type?: string) =>
      await (await fetch(base + path, {
        method: "POST",
        body,
        ...(type ? { headers: { "content-type": type } } : {}),
      })).json();
    assert.deepEqual(await post("/once", "abc"), [3, "abc", "TypeError: true"]);
    assert.deepEqual(await post("/clone", "both"), ["both", "both"]);
    assert.deepEqual(await post("/blob", "<p>", "text/html; charset=utf-8"), [
      "text/html;charset=utf-8",
      3,
      "<p>",
    ]);
    const chunks = ReadableStream.from(["a", "bb", "ccc"].map((c) => new TextEncoder().encode(c)));
    assert.deepEqual(await post("/once", chunks), [6, "abbccc", "TypeError: true"]);
  });
});

Deno.test("every body a Response can carry is sent, with Content-Length when it is known", async () => {
  const bodies: Record<string, () => Response> = {
    "/string": () => new Response("héllo"),
    "/bytes": () => new Response(new Uint8Array([104, 105])),
    "/buffer": () => new Response(new Uint8Array([1, 2, 3]).buffer),
    "/json": () => Response.json({ a: 1 }, { status: 201, headers: { "x-a": "b" } }),
    "/blob": () => new Response(new Blob(["blob!"], { type: "text/x-blob" })),
    "/params": () => new Response(new URLSearchParams({ q: "a b" })),
    "/form": () => {
      const form = new FormData();
      form.append("k", "v");
      return new Response(form);
    },
    "/stream": () =>
      new Response(ReadableStream.from(["one ", "two"].map((s) => new TextEncoder().encode(s)))),
    "/empty": () => new Response(null),
    "/typed": () => new Response("<p>", { headers: { "content-type": "text/html" } }),
  };
  await withServe((request) => bodies[new URL(request.url).pathname]!(), async (port, base) => {
    const paths = Object.keys(bodies);
    const raw = paths.map((p) => get(p)).join("");
    const { responses } = await exchange(port, raw, { responses: paths.length });
    const byPath = Object.fromEntries(paths.map((p, i) => [p, responses[i]!]));
    const framing = (p: string) =>
      byPath[p]!.headers.has("content-length")
        ? `length ${byPath[p]!.headers.get("content-length")}`
        : byPath[p]!.headers.get("transfer-encoding");
    assert.equal(text(byPath["/string"]!.body), "héllo");
    assert.equal(framing("/string"), STATIC(6));
    assert.equal(byPath["/string"]!.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.deepEqual([...byPath["/bytes"]!.body], [104, 105]);
    assert.equal(byPath["/bytes"]!.headers.has("content-type"), false);
    assert.deepEqual([...byPath["/buffer"]!.body], [1, 2, 3]);
    assert.equal(byPath["/json"]!.status, 201);
    assert.equal(text(byPath["/json"]!.body), '{"a":1}');
    assert.equal(byPath["/json"]!.headers.get("content-type"), "application/json");
    assert.equal(byPath["/json"]!.headers.get("x-a"), "b");
    assert.equal(text(byPath["/blob"]!.body), "blob!");
    assert.equal(framing("/blob"), STATIC(5));
    assert.equal(byPath["/blob"]!.headers.get("content-type"), "text/x-blob");
    assert.equal(text(byPath["/params"]!.body), "q=a+b");
    assert.equal(
      byPath["/params"]!.headers.get("content-type"),
      "application/x-www-form-urlencoded;charset=UTF-8",
    );
    assert.match(byPath["/form"]!.headers.get("content-type")!, /^multipart\/form-data; boundary=/);
    assert.match(text(byPath["/form"]!.body), /name="k"\r\n\r\nv\r\n/);
    assert.equal(text(byPath["/stream"]!.body), "one two");
    assert.equal(framing("/stream"), "chunked");
    assert.equal(byPath["/empty"]!.body.length, 0);
    assert.equal(framing("/empty"), "length 0");
    assert.equal(byPath["/typed"]!.headers.get("content-type"), "text/html");
    // Deno's own client reads them the same.
    const viaFetch = await fetch(`${base}/form`);
    assert.equal((await viaFetch.formData()).get("k"), "v");
  });
});

Deno.test("a response stream that yields slowly arrives in pieces", async () => {
  const next = Promise.withResolvers<void>();
  await withServe(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first"));
          await next.promise; // the client has seen the first piece
          controller.enqueue(new TextEncoder().encode("second"));
          controller.close();
        },
      }),
    ), async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, bytes(get("/")));
      const seen: Uint8Array[] = [];
      const buf = new Uint8Array(4096);
      while (!text(concat(seen)).includes("first")) {
        const n = await conn.read(buf);
        assert.ok(n !== null, "the first piece came before the stream ended");
        seen.push(buf.slice(0, n));
      }
      assert.ok(!text(concat(seen)).includes("second"));
      next.resolve();
      const { responses } = await readResponses(conn, { responses: 1, prefix: concat(seen) });
      assert.equal(text(responses[0]!.body), "firstsecond");
    } finally {
      conn.close();
    }
  });
});

Deno.test("a request body streams in while the response streams out (echo, piece by piece)", async () => {
  await withServe((request) => new Response(request.body), async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
      let got = "";
      const buf = new Uint8Array(4096);
      for (const piece of ["ping", "pong", "done"]) {
        await writeAll(conn, bytes(`4\r\n${piece}\r\n`));
        // The echo of this piece arrives before the next is sent.
        while (!got.includes(piece)) {
          const n = await conn.read(buf);
          assert.ok(n !== null);
          got += text(buf.subarray(0, n));
        }
      }
      await writeAll(conn, bytes("0\r\n\r\n"));
      const { responses } = await readResponses(conn, { responses: 1, prefix: bytes(got) });
      assert.equal(text(responses[0]!.body), "pingpongdone");
    } finally {
      conn.close();
    }
  });
});

Deno.test("a 16 MiB chunked upload is read with back-pressure: the socket waits for the reader", async () => {
  const gate = Promise.withResolvers<void>();
  const TOTAL = 16 * 1024 * 1024;
  await withServe(async (request) => {
    await gate.promise; // the handler does not read yet
    let total = 0, sum = 0;
    for await (const chunk of request.body!) {
      total += chunk.length;
      for (let i = 0; i < chunk.length; i++) sum = (sum + chunk[i]!) % 65521;
      await sleep(0); // a slow consumer
    }
    return Response.json({ total, sum });
  }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const piece = new Uint8Array(64 * 1024).map((_, i) => i % 251);
      const pieceSum = piece.reduce((a, b) => a + b, 0);
      const expectedSum = (pieceSum * (TOTAL / piece.length)) % 65521;
      await writeAll(conn, bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
      let sent = 0;
      const writer = (async () => {
        const size = bytes(`${piece.length.toString(16)}\r\n`);
        for (; sent < TOTAL; sent += piece.length) await writeAll(conn, concat([size, piece, bytes("\r\n")]));
        await writeAll(conn, bytes("0\r\n\r\n"));
      })();
      await sleep(400);
      // Socket buffers hold a few MiB; the server holds at most its queue. The rest waits.
      assert.ok(sent < TOTAL / 2, `the upload stalled while nobody read it (${sent} bytes sent)`);
      gate.resolve();
      await writer;
      const { responses } = await readResponses(conn, { responses: 1, timeoutMs: 20_000 });
      assert.deepEqual(JSON.parse(text(responses[0]!.body)), { total: TOTAL, sum: expectedSum });
    } finally {
      conn.close();
    }
  }, { maxBodyBytes: 32 * 1024 * 1024 });
});

Deno.test("a body over the limit is 413, by Content-Length or while chunked", async () => {
  let reads = 0;
  await withServe(async (request) => {
    reads++;
    return new Response(await request.text());
  }, async (port) => {
    const declared = await exchange(port, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n");
    assert.equal(declared.responses[0]?.status, 413);
    assert.equal(declared.closed, true);
    const chunk = "x".repeat(600);
    const chunked = await exchange(
      port,
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.equal(chunked.responses[0]?.status, 413);
    assert.equal(chunked.closed, true);
  }, { maxBodyBytes: 1000 });
  // Both reached the handler (one that never reads a body answers as it likes); reading failed.
  assert.equal(reads, 2);
});

Deno.test("request.signal aborts when the client disconnects; info.completed settles", async () => {
  const aborted = Promise.withResolvers<string>();
  let completed = false;
  await withServe((request, info) => {
    info.completed.then(() => completed = true);
    request.signal.addEventListener("abort", () => aborted.resolve((request.signal.reason as Error).name));
    return new Promise<Response>(() => {}); // never answers
  }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, bytes(get("/")));
    await sleep(100);
    conn.close();
    const timeout = setTimeout(() => aborted.resolve("no abort within 3 s"), 3000);
    assert.equal(await aborted.promise, "AbortError");
    clearTimeout(timeout);
    await sleep(0);
    assert.equal(completed, true);
  }, { shutdownTimeoutMs: 200 });
});

Deno.test("a finished response neither aborts request.signal nor leaves info.completed pending", async () => {
  const states: string[] = [];
  await withServe((request, info) => {
    info.completed.then(() => states.push(`completed aborted=${request.signal.aborted}`));
    return new Response("x");
  }, async (_port, base) => {
    assert.equal(await (await fetch(base)).text(), "x");
    for (let i = 0; i < 50 && states.length === 0; i++) await sleep(10);
  });
  assert.deepEqual(states, ["completed aborted=false"]);
});

Deno.test("a handler that throws answers 500 and the server lives on; onError decides the answer", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    await withServe((request) => {
      const path = new URL(request.url).pathname;
      if (path === "/throw") throw new Error("sync boom");
      if (path === "/reject") return Promise.reject(new Error("async boom"));
      if (path === "/not-a-response") return "text" as unknown as Response;
      return new Response("alive");
    }, async (port) => {
      const { responses } = await exchange(
        port,
        get("/throw") + get("/reject") + get("/not-a-response") + get("/"),
        {
          responses: 4,
        },
      );
      assert.deepEqual(responses.map((r) => r.status), [500, 500, 500, 200]);
      assert.equal(text(responses[3]!.body), "alive");
    });
  } finally {
    console.error = original;
  }
  assert.equal(errors.length, 3);
  assert.match(errors[0]!, /sync boom/);

  await withServe(() => {
    throw new Error("teapot");
  }, async (_port, base) => {
    const response = await fetch(base);
    assert.equal(response.status, 418);
    assert.equal(await response.text(), "handled: teapot");
  }, { onError: (error) => new Response(`handled: ${(error as Error).message}`, { status: 418 }) });

  const failures: string[] = [];
  console.error = (...args: unknown[]) => failures.push(args.join(" "));
  try {
    await withServe(() => {
      throw new Error("first");
    }, async (_port, base) => {
      const response = await fetch(base);
      assert.equal(response.status, 500);
      await response.body?.cancel();
    }, {
      onError: () => {
        throw new Error("onError broke too");
      },
    });
  } finally {
    console.error = original;
  }
  assert.match(failures.join("\n"), /onError broke too/);
});

Deno.test("aborting the signal shuts down gracefully: in-flight responses finish, then it stops", async () => {
  const controller = new AbortController();
  const started = Promise.withResolvers<void>();
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, async () => {
    started.resolve();
    await sleep(200);
    return new Response("finished late");
  });
  const inFlight = exchange(server.addr.port, get("/"), { responses: 1 });
  await started.promise;
  controller.abort();
  const { responses } = await inFlight;
  assert.equal(text(responses[0]!.body), "finished late");
  assert.equal(responses[0]!.headers.get("connection"), "close");
  await server.finished;
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
});

Deno.test("pipelined requests to an async handler are answered in order", async () => {
  await withServe(async (request) => {
    const n = Number(new URL(request.url).searchParams.get("n"));
    await sleep((5 - n) * 20); // the first finishes last
    return new Response(`r${n}`);
  }, async (port) => {
    const raw = [0, 1, 2, 3, 4].map((n) => get(`/?n=${n}`)).join("");
    const { responses } = await exchange(port, raw, { responses: 5 });
    assert.deepEqual(responses.map((r) => text(r.body)), ["r0", "r1", "r2", "r3", "r4"]);
  });
});

Deno.test("HEAD, 204 and 304 go without bodies; HEAD keeps the length a GET would have", async () => {
  await withServe((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/204") return new Response(null, { status: 204 });
    if (path === "/304") return new Response(null, { status: 304, headers: { etag: '"a"' } });
    if (path === "/stream") return new Response(ReadableStream.from([new TextEncoder().encode("s")]));
    return new Response("hello");
  }, async (port) => {
    const raw = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/204") + get("/304") +
      "HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n" + get("/");
    const { responses, raw: bytesBack } = await exchange(port, raw, {
      responses: 5,
      methods: ["HEAD", "GET", "GET", "HEAD", "GET"],
    });
    assert.deepEqual(responses.map((r) => r.status), [200, 204, 304, 200, 200]);
    assert.equal(responses[0]!.headers.get("content-length"), PUBLIC ? undefined : "5");
    assert.equal(responses[1]!.headers.has("content-length"), false);
    assert.equal(responses[2]!.headers.get("etag"), '"a"');
    assert.equal(text(responses[4]!.body), "hello");
    // Nothing but the five heads and the last body went out.
    assert.equal(text(bytesBack).split("hello").length, 2);
  });
});

Deno.test("Expect: 100-continue gets 100 when the handler reads the body, and none when it does not", async () => {
  await withServe(async (request) => {
    if (new URL(request.url).pathname === "/read") return new Response(`read:${await request.text()}`);
    return new Response("ignored the body", { status: 403 });
  }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(
        conn,
        bytes("PUT /read HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"),
      );
      const buf = new Uint8Array(256);
      const n = await conn.read(buf);
      assert.match(text(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 100 Continue\r\n\r\n/);
      await writeAll(conn, bytes("body"));
      const { responses } = await readResponses(conn, { responses: 1 });
      assert.equal(text(responses[0]!.body), "read:body");
    } finally {
      conn.close();
    }
    const refused = await exchange(
      port,
      "PUT /no HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
      { responses: 1 },
    );
    assert.deepEqual(refused.responses.map((r) => r.status), [403]);
  });
});

Deno.test("a response stream that errors mid-body closes the connection, and the server lives on", async () => {
  const original = console.error;
  console.error = () => {};
  try {
    await withServe((request) => {
      if (new URL(request.url).pathname === "/ok") return new Response("fine");
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(new TextEncoder().encode("partial"));
            controller.error(new Error("the source failed"));
          },
        }),
      );
    }, async (port, base) => {
      const { closed, raw } = await exchange(port, get("/") + get("/ok"));
      assert.equal(closed, true);
      assert.ok(text(raw).includes("partial"));
      assert.ok(!text(raw).includes("0\r\n\r\n"), "no last chunk: the body is visibly cut");
      assert.ok(!text(raw).includes("fine"), "the pipelined request was not answered on that connection");
      assert.equal(await (await fetch(`${base}/ok`)).text(), "fine");
    });
  } finally {
    console.error = original;
  }
});

Deno.test("Set-Cookie fields stay separate; framing fields of the handler are the engine's to decide", async () => {
  await withServe(() => {
    const headers = new Headers([["set-cookie", "a=1"], ["set-cookie", "b=2"], ["content-length", "999"]]);
    headers.set("connection", "upgrade");
    return new Response("four", { headers });
  }, async (port) => {
    const { responses } = await exchange(port, get("/"), { responses: 1 });
    const head = responses[0]!.headText.toLowerCase();
    assert.equal(head.match(/^set-cookie: /gm)?.length, 2);
    assert.equal(responses[0]!.headers.get("content-length"), PUBLIC ? undefined : "4");
    assert.equal(text(responses[0]!.body), "four");
    assert.ok(!head.includes("connection: upgrade"));
  });
});

Deno.test("CONNECT and TRACE are not for handlers: 501", async () => {
  let calls = 0;
  await withServe(() => {
    calls++;
    return new Response("no");
  }, async (port) => {
    const { responses } = await exchange(
      port,
      "TRACE / HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
      { responses: 2 },
    );
    assert.deepEqual(responses.map((r) => r.status), [501, 501]);
  });
  assert.equal(calls, 0);
});

Deno.test("the server is async-disposable, and a busy port is an error at serve()", async () => {
  let port = 0;
  {
    await using server = serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("d"),
    );
    port = server.addr.port;
    assert.throws(
      () => serve({ hostname: "127.0.0.1", port, onListen: () => {} }, () => new Response("x")),
      (e: Error) => {
        // serve()'s caller chose a port option, not a flag: the hint speaks of options.
        assert.match(e.message, /EADDRINUSE.*Pass another port/);
        assert.doesNotMatch(e.message, /--/);
        return true;
      },
    );
    assert.throws(
      () => serve({ hostname: "not-an-address", port: 0, onListen: () => {} }, () => new Response("x")),
      /hostname takes an IPv4 or IPv6 literal/,
    );
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "d");
  }
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});

Deno.test("onListen gets the bound address; serve({ handler }) is the one-argument form", async () => {
  let listened: unknown = null;
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => listened = addr,
    handler: () => new Response("one-arg"),
  });
  try {
    assert.deepEqual(listened, { transport: "tcp", hostname: "127.0.0.1", port: server.addr.port });
    assert.equal(await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text(), "one-arg");
  } finally {
    await server.shutdown();
  }
  assert.throws(() => serve({ port: 0 } as never), TypeError);
});

Deno.test({
  name: "the same tests pass through Deno's public API (RAWSERVE_WEB_PUBLIC=1, in a child process)",
  ignore: PUBLIC,
  async fn() {
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", "--no-check", new URL(import.meta.url).pathname],
      env: { RAWSERVE_WEB_PUBLIC: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = text(child.stdout) + text(child.stderr);
    assert.equal(child.code, 0, out);
    assert.match(out, /ok \| \d+ passed \| 0 failed \| 1 ignored/);
  },
});
