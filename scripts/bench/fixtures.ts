// The bytes every server answers, written to the run's temporary directory: the site's files, the
// C floor's canned responses and binary, and wrk's pipelining script.

import { gzipSync } from "node:zlib";
import { appAnswer } from "./answers.ts";
import type { Bench } from "./context.ts";
import { LOAD_SCENARIOS, type LoadScenario, PAGE_ASSETS } from "./scenarios.ts";
import { decoder, encoder, progress } from "./util.ts";

export const PIPELINE_DEPTH = 16; // requests per write in pipelined16, as HTTP pipelining benchmarks use

const BIG_FILE_BYTES = 1024 * 1024;
const MID_FILE_BYTES = 64 * 1024; // h2-64k: several DATA frames and TLS records per answer
const SCRIPT_BYTES = 200 * 1024; // the gzip scenario's script: about a front-end bundle's size
const SMALL_FILE = "Hello, world\n"; // 13 bytes

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let off = 0; off < length; off += 65_536) {
    crypto.getRandomValues(bytes.subarray(off, Math.min(length, off + 65_536))); // 64 KiB per call max
  }
  return bytes;
}

/**
 * The floor's answer for a fixture: a head as long as rawserve's (status, Date, Server, type,
 * length) and the fixture's bytes. `close` adds `Connection: close` (the close scenario).
 */
function floorResponse(body: Uint8Array, type: string, close: boolean): Uint8Array {
  const head = floorHead(body.length, type, close);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function floorHead(length: number, type: string, close: boolean): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\nServer: floor\r\n` +
      `Content-Type: ${type}\r\nContent-Length: ${length}\r\n${close ? "Connection: close\r\n" : ""}\r\n`,
  );
}

/**
 * Writes the floors' fixed answer for an application scenario: the body and type the application
 * gives the load generator's request.
 */
export async function writeAppFloorAnswer(bench: Bench, scenario: LoadScenario): Promise<void> {
  const { body, type } = await appAnswer(bench, scenario);
  Deno.writeFileSync(`${bench.dir}/floor-${scenario.name}.bin`, floorResponse(body, type, false));
}

/** Real code for the gzip scenario: this repository's sources, concatenated to SCRIPT_BYTES. */
function scriptText(repo: string): Uint8Array {
  let text = "";
  for (const dir of ["http", "app", "loop", "ffi"]) text += sourcesBelow(`${repo}/${dir}`);
  return encoder.encode(text).slice(0, SCRIPT_BYTES);
}

/**
 * The .ts files below `dir` by name, its own before its folders' (since http/ and app/ have
 * folders, their top-level files alone fall short of SCRIPT_BYTES).
 */
function sourcesBelow(dir: string): string {
  const entries = [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  let text = "";
  for (const e of entries) {
    if (e.isFile && e.name.endsWith(".ts")) text += Deno.readTextFileSync(`${dir}/${e.name}`);
  }
  for (const e of entries) if (e.isDirectory) text += sourcesBelow(`${dir}/${e.name}`);
  return text;
}

/** Text of `length` bytes for a page's stylesheet, script, SVG or JSON: repetitive, as such code is. */
function assetText(name: string, length: number): Uint8Array {
  const line = `/* ${name} */ .item-{n} { margin: 0 auto; padding: 4px {n}px; color: #333; }\n`;
  let text = "";
  for (let n = 0; text.length < length; n++) text += line.replaceAll("{n}", String(n));
  return encoder.encode(text.slice(0, length));
}

/**
 * The page of thirty assets beneath site/page/: index.html links every asset (and is padded to
 * its size), text assets are repetitive text, images and fonts random bytes.
 */
function writePage(site: string): void {
  for (const dir of ["css", "js", "img", "fonts"]) Deno.mkdirSync(`${site}/page/${dir}`, { recursive: true });
  const [index, ...assets] = PAGE_ASSETS;
  const links = assets.map((a) =>
    a.name.endsWith(".css")
      ? `<link rel="stylesheet" href="${a.name}">`
      : a.name.endsWith(".js")
      ? `<script src="${a.name}" defer></script>`
      : `<img src="${a.name}" alt="">`
  );
  const html = `<!doctype html>\n<html><head><title>Page</title>\n${links.join("\n")}\n</head><body>\n`;
  const padded = html + "<p>Lorem ipsum dolor sit amet.</p>\n".repeat(index!.kib * 1024 / 34);
  Deno.writeTextFileSync(
    `${site}/page/index.html`,
    padded.slice(0, index!.kib * 1024 - 15) + "</body></html>\n",
  );
  for (const asset of assets) {
    const bytes = /\.(css|js|svg|json)$/.test(asset.name)
      ? assetText(asset.name, asset.kib * 1024)
      : randomBytes(asset.kib * 1024);
    Deno.writeFileSync(`${site}/page/${asset.name}`, bytes);
  }
}

/**
 * The temporary directory: site/ (index.html, small.txt, mid64k.bin, big.bin, app.js and
 * app.js.gz, the page of thirty assets beneath page/) and the pipelining script.
 */
export function writeFixtures(dir: string, page: Uint8Array, repo: string): { site: string; lua: string } {
  const site = `${dir}/site`;
  Deno.mkdirSync(site);
  Deno.writeFileSync(`${site}/index.html`, page);
  Deno.writeTextFileSync(`${site}/small.txt`, SMALL_FILE);
  Deno.writeFileSync(`${site}/big.bin`, randomBytes(BIG_FILE_BYTES));
  Deno.writeFileSync(`${site}/mid64k.bin`, randomBytes(MID_FILE_BYTES));
  writePage(site);
  const script = scriptText(repo);
  Deno.writeFileSync(`${site}/app.js`, script);
  Deno.writeFileSync(`${site}/app.js.gz`, gzipSync(script, { level: 9 })); // written after: not stale
  for (const scenario of LOAD_SCENARIOS) {
    // The floors answer fixed responses without content codings; the Deno floor sends the 1 MiB
    // file after a head of its own (floor.c sits that one out).
    if (scenario.name === "static1m") {
      const head = floorHead(BIG_FILE_BYTES, scenario.type, false);
      Deno.writeFileSync(`${dir}/floor-${scenario.name}.head`, head);
      continue;
    }
    if (scenario.app || scenario.coded || scenario.h2load || scenario.ws) continue;
    const body = Deno.readFileSync(`${site}/${scenario.file}`);
    const close = scenario.headers.includes("Connection: close");
    Deno.writeFileSync(`${dir}/floor-${scenario.name}.bin`, floorResponse(body, scenario.type, close));
  }
  const lua = `${dir}/pipeline${PIPELINE_DEPTH}.lua`;
  // wrk counts the requests in the string request() returns and expects that many responses.
  Deno.writeTextFileSync(
    lua,
    `init = function(args)
  local r = {}
  for i = 1, ${PIPELINE_DEPTH} do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
`,
  );
  return { site, lua };
}

/** Compiles scripts/ref/floor.c with cc into the bench directory; null when that fails. */
export function buildFloor(repo: string, dir: string): string | null {
  const binary = `${dir}/floor`;
  try {
    const out = new Deno.Command("cc", {
      args: ["-O2", "-o", binary, `${repo}/scripts/ref/floor.c`],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (out.success) return binary;
    progress(`C floor: cc failed: ${decoder.decode(out.stderr).trim()}`);
  } catch {
    progress("C floor: cc not found; its rows are skipped (apt-get install -y gcc)");
  }
  return null;
}
