// End-to-end: headless Chromium (Debian's, driven by playwright-core) loads a page of thirty assets
// (stylesheets, scripts, images) from `rawserve --cert --key DIR` and gets every one over HTTP/2,
// chosen by ALPN, byte for byte as on disk. Skipped, with the reason in its name, when Chromium
// or openssl cannot be had.

/// <reference lib="dom" />

import assert from "node:assert/strict";
// A dependency of this test only: kept out of the import map users inherit (deno.json).
// deno-lint-ignore no-import-prefix
import type { BrowserContext } from "npm:playwright-core@1.65.2";
import { startServer } from "./_server.ts";
import { HAS_OPENSSL, makePki } from "./_tls.ts";
import { chromiumMissing } from "./_chromium.ts";

/** Debian's Chromium (`apt-get install -y chromium`). */
const CHROMIUM = "/usr/bin/chromium";
/** Flags for a quiet headless run: no sandbox (root in a container), nothing fetched from the network. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Assets of each kind on the page: thirty in all, as the page of thirty assets. */
const EACH = 10;

let playwright: typeof import("npm:playwright-core@1.65.2") | null = null;
let skip: string | null = HAS_OPENSSL ? null : "no openssl CLI to make a certificate";
if (skip === null) {
  try {
    // deno-lint-ignore no-import-prefix
    playwright = await import("npm:playwright-core@1.65.2");
    skip = await chromiumMissing();
  } catch (e) {
    skip = `playwright-core cannot be loaded: ${(e as Error).message.split("\n")[0]}`;
  }
}

/** Launches Chromium headless with a fresh profile that accepts the test's certificate. */
async function launch(profile: string): Promise<BrowserContext> {
  // launchPersistentContext passes the profile as --user-data-dir (launch() would make its own).
  return await playwright!.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true,
    timeout: 30_000,
  });
}

/**
 * The page and its thirty assets: stylesheets, scripts and SVG images of sizes from a few bytes to
 * several DATA frames and windows' worth, each with content of its own so that a mix-up shows.
 * @returns the asset paths and their bytes
 */
function makeSite(dir: string): Map<string, Uint8Array> {
  const encoder = new TextEncoder();
  const assets = new Map<string, Uint8Array>();
  const filler = (i: number) => `/* ${String(i).repeat(1 + (i * 997) % 40_000)} */\n`;
  for (let i = 0; i < EACH; i++) {
    assets.set(`/css/s${i}.css`, encoder.encode(`${filler(i)}.c${i} { margin-left: ${i}px; }\n`));
    assets.set(
      `/js/a${i}.js`,
      encoder.encode(`${filler(i + 50)}window.loaded = (window.loaded ?? 0) + 1;\n`),
    );
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${10 + i}" height="10">` +
      `<!-- ${"x".repeat((i * 7919) % 200_000)} --><rect width="10" height="10" fill="#${i}${i}0"/></svg>\n`;
    assets.set(`/img/i${i}.svg`, encoder.encode(svg));
  }
  const tags = [...assets.keys()].map((path) =>
    path.endsWith(".css")
      ? `<link rel="stylesheet" href="${path}">`
      : path.endsWith(".js")
      ? `<script src="${path}"></script>`
      : `<img src="${path}" alt="">`
  );
  for (const sub of ["css", "js", "img"]) Deno.mkdirSync(`${dir}/${sub}`);
  for (const [path, bytes] of assets) Deno.writeFileSync(`${dir}${path}`, bytes);
  Deno.writeTextFileSync(
    `${dir}/index.html`,
    `<!doctype html><html><head><meta charset="utf-8"><title>thirty</title></head><body>\n${
      tags.join("\n")
    }\n</body></html>\n`,
  );
  return assets;
}

Deno.test({
  name: skip
    ? `Chromium loads a page of thirty assets over h2 by ALPN (skipped: ${skip})`
    : "Chromium loads a page of thirty assets from --cert --key over h2 by ALPN, every byte as on disk",
  ignore: skip !== null,
  // playwright-core keeps a pipe to the browser and timers of its own until close() settles them.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = makePki();
    const dir = Deno.makeTempDirSync({ prefix: "rawserve-h2-browser-" });
    const profile = Deno.makeTempDirSync({ prefix: "rawserve-chromium-" });
    const assets = makeSite(dir);
    const server = await startServer(["--quiet", "--cert", pki.leaf.cert, "--key", pki.leaf.key, dir]);
    let context: BrowserContext | null = null;
    try {
      context = await launch(profile);
      const page = await context.newPage();
      const bodies = new Map<string, Promise<Uint8Array>>();
      page.on("response", (response) => {
        const path = new URL(response.url()).pathname;
        bodies.set(path, response.body().then((b) => new Uint8Array(b)));
      });
      const origin = `https://127.0.0.1:${server.port}`;
      const navigation = await page.goto(`${origin}/`, { waitUntil: "load", timeout: 30_000 });
      assert.equal(navigation?.status(), 200);
      const entries = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        const resources = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
        return {
          page: nav.nextHopProtocol,
          loaded: (window as unknown as { loaded?: number }).loaded ?? 0,
          resources: resources.map((r) => ({ path: new URL(r.name).pathname, protocol: r.nextHopProtocol })),
        };
      });
      assert.equal(entries.page, "h2", "the page itself came over h2");
      assert.equal(entries.loaded, EACH, "every script ran");
      // Chromium may ask for /favicon.ico as well (a 404, over h2 like the rest).
      assert.deepEqual(
        entries.resources.map((r) => r.path).filter((path) => assets.has(path)).sort(),
        [...assets.keys()].sort(),
        "thirty resources, each once",
      );
      for (const r of entries.resources) assert.equal(r.protocol, "h2", `${r.path} came over ${r.protocol}`);
      for (const [path, bytes] of assets) {
        const got = bodies.get(path);
        assert.ok(got, `${path} was received`);
        assert.deepEqual(await got, bytes, `${path} byte for byte`);
      }
    } finally {
      await context?.close();
      await server.stop();
      pki.remove();
      Deno.removeSync(dir, { recursive: true });
      Deno.removeSync(profile, { recursive: true });
    }
  },
});
