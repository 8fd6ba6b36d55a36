// Bytes on the wire for a built site: this checkout's rawserve serves DIR, and every file is asked
// for as a browser asks (Accept-Encoding: gzip, deflate, br, zstd), as a client that takes gzip
// only, and with no Accept-Encoding; each answer is decoded and compared with the file, and the
// bytes of heads and bodies are summed by kind of file. Loopback only; the server is stopped at the end.
// Usage: deno run -A scripts/site_bytes.ts DIR [--flags="--compress off"]

import { parseArgs } from "node:util";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { mediaTypeFor } from "../http/static/media_types.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { flags: { type: "string", default: "" } },
});
const dir = positionals[0];
if (!dir) {
  console.error('Usage: deno run -A scripts/site_bytes.ts DIR [--flags="--compress off"]');
  Deno.exit(2);
}
const PROFILES = { browser: "gzip, deflate, br, zstd", gzip: "gzip", none: null } as const;
type Profile = keyof typeof PROFILES;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The file's kind for the table. */
function kindOf(name: string): string {
  const type = mediaTypeFor(name);
  if (type.startsWith("text/html")) return "HTML";
  if (type.startsWith("text/css")) return "CSS";
  if (type.startsWith("text/javascript")) return "JavaScript";
  if (/json|xml|svg|text\//.test(type)) return "other text (JSON, SVG, text)";
  return "images, fonts, other binary";
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of Deno.readDirSync(`${root}/${rel}`)) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && !entry.name.startsWith(".")) out.push(path);
    }
  };
  walk("");
  return out.sort();
}

/** One keep-alive connection, asking one thing at a time. */
class Client {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async get(path: string, acceptEncoding: string | null) {
    const ae = acceptEncoding === null ? "" : `Accept-Encoding: ${acceptEncoding}\r\n`;
    await this.#conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: site\r\n${ae}\r\n`));
    let headEnd: number;
    while ((headEnd = latin1.decode(this.#buffer).indexOf("\r\n\r\n")) < 0) await this.#fill();
    const head = latin1.decode(this.#buffer.subarray(0, headEnd));
    const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
    while (this.#buffer.length < headEnd + 4 + length) await this.#fill();
    const body = this.#buffer.slice(headEnd + 4, headEnd + 4 + length);
    this.#buffer = this.#buffer.slice(headEnd + 4 + length);
    const coding = /^content-encoding:\s*(\S+)/im.exec(head)?.[1] ?? null;
    return { status: Number(head.split(" ")[1]), coding, headBytes: headEnd + 4, body };
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("the server closed the connection");
    const grown = new Uint8Array(this.#buffer.length + n);
    grown.set(this.#buffer);
    grown.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = grown;
  }

  close(): void {
    this.#conn.close();
  }
}

function decode(coding: string | null, body: Uint8Array): Uint8Array {
  if (coding === "br") return new Uint8Array(brotliDecompressSync(body));
  if (coding === "zstd") return new Uint8Array(zstdDecompressSync(body));
  if (coding === "gzip") return new Uint8Array(gunzipSync(body));
  return body;
}

async function startRawserve(): Promise<{ port: number; child: Deno.ChildProcess }> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const flags = values.flags.split(/\s+/).filter(Boolean);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--quiet", "--port", "0", ...flags, "--root", dir!],
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 10_000);
  while (!/:(\d+)\//.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("rawserve did not start");
    text += value;
  }
  clearTimeout(deadline);
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { port: Number(/:(\d+)\//.exec(text)![1]), child };
}

const { port, child } = await startRawserve();
const totals = new Map<string, Record<Profile, number> & { files: number; raw: number }>();
try {
  const clients = Object.fromEntries(
    await Promise.all(
      Object.keys(PROFILES).map(async (
        p,
      ) => [p, new Client(await Deno.connect({ hostname: "127.0.0.1", port }))]),
    ),
  ) as Record<Profile, Client>;
  for (const name of listFiles(dir)) {
    const file = Deno.readFileSync(`${dir}/${name}`);
    const path = "/" + name.split("/").map(encodeURIComponent).join("/");
    const row = totals.get(kindOf(name)) ?? { browser: 0, gzip: 0, none: 0, files: 0, raw: 0 };
    for (const profile of Object.keys(PROFILES) as Profile[]) {
      const answer = await clients[profile].get(path, PROFILES[profile]);
      const decoded = decode(answer.coding, answer.body);
      if (
        answer.status !== 200 || decoded.length !== file.length || !decoded.every((b, i) => b === file[i])
      ) {
        throw new Error(`${path} (${profile}): status ${answer.status}, not the file's bytes`);
      }
      row[profile] += answer.headBytes + answer.body.length;
    }
    row.files++;
    row.raw += file.length;
    totals.set(kindOf(name), row);
  }
  for (const client of Object.values(clients)) client.close();
} finally {
  child.kill("SIGTERM");
  await child.status;
}

const mb = (n: number) => (n / 1e6).toFixed(2);
console.log("| files | count | bytes | browser (br, zstd, gzip) | gzip only | no Accept-Encoding |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
const sum = { browser: 0, gzip: 0, none: 0, files: 0, raw: 0 };
for (const [kind, row] of [...totals].sort((a, b) => b[1].raw - a[1].raw)) {
  for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += row[key];
  const pct = (n: number) => `${mb(n)} MB (${(100 * n / row.none).toFixed(0)}%)`;
  console.log(
    `| ${kind} | ${row.files} | ${mb(row.raw)} MB | ${pct(row.browser)} | ${pct(row.gzip)} | ${
      mb(row.none)
    } MB |`,
  );
}
const pct = (n: number) => `${mb(n)} MB (${(100 * n / sum.none).toFixed(0)}%)`;
console.log(
  `| all | ${sum.files} | ${mb(sum.raw)} MB | ${pct(sum.browser)} | ${pct(sum.gzip)} | ${mb(sum.none)} MB |`,
);
