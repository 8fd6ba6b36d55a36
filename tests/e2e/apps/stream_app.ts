// An --app for the streaming and upload regressions (issue 18): a CSV export written the usual
// way, bodies echoed as text, streams that yield chunks that are not bytes, and uploads read whole.

/** `rows` lines of CSV, one string each, as a generator a database cursor would be. */
function* rows(count: number): Generator<string> {
  yield "id,name,amount\n";
  for (let i = 0; i < count; i++) yield `${i},customer-${i},${(i * 7) % 1000}.${i % 100}\n`;
}

/** A stream that yields one good chunk, then `bad`. */
function badStream(bad: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("good\n"));
      controller.enqueue(bad as Uint8Array);
      controller.close();
    },
  });
}

const BAD_CHUNKS: Record<string, () => unknown> = {
  string: () => "a string",
  u16: () => new Uint16Array([0x4141, 0x4242, 0x4343]),
  arraybuffer: () => new Uint8Array([65, 66, 67]).buffer,
  number: () => 42,
};

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/csv": {
        const count = Number(url.searchParams.get("rows") ?? "1000000");
        return new Response(ReadableStream.from(rows(count)).pipeThrough(new TextEncoderStream()), {
          headers: { "content-type": "text/csv" },
        });
      }
      case "/echo-text": // strings where bytes belong: what issue 18 saw crash the server
        return new Response(
          request.body!.pipeThrough(new TextDecoderStream()) as unknown as ReadableStream<Uint8Array>,
        );
      case "/bad": {
        const make = BAD_CHUNKS[url.searchParams.get("kind") ?? ""];
        return make ? new Response(badStream(make())) : new Response("unknown kind", { status: 400 });
      }
      case "/upload": {
        const wait = Number(url.searchParams.get("wait") ?? "0");
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const kind = url.searchParams.get("as") ?? "arrayBuffer";
        const length = kind === "text"
          ? (await request.text()).length
          : kind === "bytes"
          ? (await request.bytes()).length
          : kind === "blob"
          ? (await request.blob()).size
          : (await request.arrayBuffer()).byteLength;
        return new Response(`${length}\n`);
      }
      default:
        return new Response("ok\n");
    }
  },
};
