// An --app for the HTTP/2 stream tests (tests/e2e/h2_streams_test.ts): it counts its calls,
// keeps slow handlers running and reports how many ran at once, reads part of a body and
// answers, echoes a body's length, and answers 1 MiB from memory.

/** How long a slow handler runs: longer than the test's burst of streams takes to send. */
const SLOW_MS = 2000;
const MEM = new Uint8Array(1 << 20);

let calls = 0;
let running = 0;
let most = 0;

export default {
  async fetch(request: Request): Promise<Response> {
    calls++;
    switch (new URL(request.url).pathname) {
      case "/count":
        return new Response(String(calls));
      case "/max":
        return new Response(String(most));
      case "/slow": // ignores its stream's reset, as a handler awaiting a database would
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
        running--;
        return new Response("slow\n");
      case "/claim": { // reads one chunk of the body, then answers
        await request.body!.getReader().read();
        return new Response("claimed\n");
      }
      case "/echo":
        try {
          return new Response(`${(await request.bytes()).length}\n`);
        } catch {
          return new Response("body failed\n", { status: 400 });
        }
      case "/mem":
        return new Response(MEM);
      default:
        return new Response("ok\n");
    }
  },
};
