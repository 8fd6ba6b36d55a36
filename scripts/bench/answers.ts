// Before a server is measured, its answer is checked: status 200 and exactly the fixture's bytes
// (in the scenario's content coding, read off a plain socket since fetch() would decode it).

import type { Bench, Server } from "./context.ts";
import type { LoadScenario } from "./scenarios.ts";
import { decoder, encoder } from "./util.ts";

/**
 * The bytes every peer must answer for a scenario: the fixture file, or what the scenario's
 * application answers to the request the load generator sends.
 */
export async function expectedBody(bench: Bench, scenario: LoadScenario): Promise<Uint8Array> {
  if (!scenario.app) return Deno.readFileSync(`${bench.site}/${scenario.file}`);
  return (await appAnswer(bench, scenario)).body;
}

/**
 * What the scenario's application answers to the load generator's request (its path and
 * headers; fetch's default Accept, any type, when it sends none): its body and Content-Type, which
 * the floors answer as fixed bytes.
 */
export async function appAnswer(
  bench: Bench,
  scenario: LoadScenario,
): Promise<{ body: Uint8Array; type: string }> {
  const app = (await import(`${bench.repo}/${scenario.app}`)).default;
  const request = new Request(`http://127.0.0.1${scenario.path}`, { headers: requestHeaders(scenario) });
  const response: Response = await app.fetch(request);
  return {
    body: new Uint8Array(await response.arrayBuffer()),
    type: response.headers.get("content-type") ?? "application/octet-stream",
  };
}

/** The scenario's request fields as fetch() sends them, with fetch's default Accept unless it has one. */
function requestHeaders(scenario: LoadScenario): Headers {
  const headers = new Headers({ accept: "*/*" });
  for (const line of scenario.headers) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** Fails loudly when a server does not answer 200 with the expected bytes. */
export async function checkBody(
  bench: Bench,
  server: Server,
  scenario: LoadScenario,
  expected: Uint8Array,
): Promise<void> {
  const path = scenario.path;
  let status: number, body: Uint8Array, coding: string | null = null;
  if (scenario.coded) {
    ({ status, body, coding } = await rawGet(server.port, path, scenario.headers));
  } else {
    const res = scenario.tls
      ? await fetch(`https://localhost:${server.port}${path}`, {
        client: bench.tls!.client,
        signal: AbortSignal.timeout(5_000),
      })
      : await fetch(`http://127.0.0.1:${server.port}${path}`, {
        // An application answers the load generator's fields (a fixture file does not vary).
        headers: scenario.app ? requestHeaders(scenario) : {},
        signal: AbortSignal.timeout(5_000),
      });
    status = res.status;
    body = new Uint8Array(await res.arrayBuffer());
  }
  const same = body.length === expected.length && body.every((b, i) => b === expected[i]);
  if (status !== 200 || !same || coding !== (scenario.coded ?? null)) {
    throw new Error(
      `${server.label} GET ${path}: status ${status}, ${body.length} bytes, coding ${coding}; expected 200 ` +
        `and the ${expected.length} fixture bytes${scenario.coded ? ` in ${scenario.coded}` : ""}`,
    );
  }
}

/**
 * GET over a plain socket, for answers fetch() would decode: the body as sent, and its coding.
 * @throws {Error} after 5 s without the whole answer
 */
async function rawGet(
  port: number,
  path: string,
  headers: string[],
): Promise<{ status: number; body: Uint8Array; coding: string | null }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join("")}` +
      "Connection: close\r\n\r\n";
    await conn.write(encoder.encode(request));
    const chunks: Uint8Array[] = [];
    for await (const chunk of conn.readable) chunks.push(chunk);
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
    const text = decoder.decode(all.subarray(0, Math.min(all.length, 16_384)));
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) throw new Error(`no complete answer to GET ${path}`);
    const head = text.slice(0, headEnd);
    const coding = /^content-encoding:\s*(\S+)/im.exec(head)?.[1] ?? null;
    return { status: Number(head.split(" ")[1]), body: all.subarray(headEnd + 4), coding };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or the peer
    }
  }
}
