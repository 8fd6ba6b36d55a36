// Screenshots of the directory listing and the status page for the README, made from the real
// pages. For the listing, the CLI serves a
// temporary tree of varied files (fixed sizes and dates, so the pictures are reproducible) and a
// headless Chromium (Debian's, never one a tool downloads) shows it on a desktop and on a phone.
//
//   deno run -A scripts/screenshots.ts [OUT_DIR]     (default docs/images/)
//
// tests/e2e/listing_browser_test.ts drives the same browser and server through these exports.

// A dependency of this script and its test only: kept out of the import map users inherit (deno.json).
// deno-lint-ignore no-import-prefix
import { chromium } from "npm:playwright-core@1.65.2";
// deno-lint-ignore no-import-prefix
import type { BrowserContext } from "npm:playwright-core@1.65.2";

const ROOT = new URL("../", import.meta.url).pathname;

/** Debian's Chromium (`apt-get install -y chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** A phone's viewport (an iPhone X/11 Pro in CSS pixels): the width the phone layout must fit. */
export const PHONE = { width: 375, height: 812 } as const;
/** A desktop browser window's viewport. */
export const DESKTOP = { width: 1100, height: 720 } as const;

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

/** The time zone the browser shows dates in: not UTC, so the client-side conversion is visible. */
export const TIME_ZONE = "Europe/Berlin";

const KIB = 1024, MIB = 1024 * KIB, GIB = 1024 * MIB;

/** The tree's entries beneath `projects/`: name, bytes (null: a directory), modified (UTC). */
export const TREE: readonly (readonly [string, number | null, string])[] = [
  ["docs", null, "2026-11-28T16:40:00Z"],
  ["item-1", null, "2026-10-02T09:15:00Z"],
  ["item-2", null, "2026-10-05T11:02:00Z"],
  ["item-10", null, "2026-10-30T08:47:00Z"],
  ["photos 2026", null, "2026-12-01T19:05:00Z"],
  ["README.md", 4_812, "2026-12-04T10:21:00Z"],
  ["rawserve-0.1.0-x86_64-linux.tar.gz", 38 * MIB + 734_003, "2026-12-03T22:58:00Z"],
  ["debian-13.2.0-amd64-netinst.iso", 754 * MIB, "2026-11-15T07:30:00Z"],
  ["backup-2026-11.tar.zst", 3 * GIB + 400 * MIB, "2026-11-30T03:00:00Z"],
  ["notes <draft> & ideas.txt", 1_337, "2026-12-05T08:12:00Z"],
  ["Résumé – Zoë Çelik.pdf", 182 * KIB + 311, "2026-09-18T14:44:00Z"],
  [
    "a-rather-long-file-name-that-keeps-going-to-show-how-names-wrap-on-a-phone.log",
    96 * KIB,
    "2026-12-05T09:59:00Z",
  ],
  ["track-02.flac", 31 * MIB + 10_240, "2026-08-09T20:20:00Z"],
  ["track-10.flac", 27 * MIB + 5_120, "2026-08-09T20:31:00Z"],
  ["empty.txt", 0, "2026-12-02T12:00:00Z"],
];

/**
 * Makes the tree in `dir`: `projects/` holds TREE; files are sparse (their size costs no disk).
 * @returns the directory to serve (`dir`)
 */
export function makeListingTree(dir: string): string {
  const base = `${dir}/projects`;
  Deno.mkdirSync(base, { recursive: true });
  for (const [name, size, modified] of TREE) {
    const path = `${base}/${name}`;
    if (size === null) {
      Deno.mkdirSync(path);
      Deno.writeTextFileSync(`${path}/.keep`, "");
    } else {
      using file = Deno.openSync(path, { write: true, create: true });
      file.truncateSync(size);
    }
    const when = new Date(modified);
    Deno.utimeSync(path, when, when);
  }
  return dir;
}

/** A running rawserve CLI. */
export interface CliServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the CLI (main.ts) serving `root` on an ephemeral loopback port.
 * @throws {Error} with its stderr when it does not print its URL within 10 s
 */
export async function startCli(root: string, extra: readonly string[] = []): Promise<CliServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      `${ROOT}main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--root",
      root,
      ...extra,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  let seen = "", port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(timer);
      await child.status;
      throw new Error(`rawserve did not start: ${await stderr}`);
    }
    seen += value;
    port = Number(/https?:\/\/\S+:(\d+)\//.exec(seen)?.[1] ?? 0);
  }
  clearTimeout(timer);
  const drained = (async () => {
    while (!(await reader.read()).done) {
      // the access log and shutdown lines are not needed
    }
  })();
  return {
    origin: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(killer);
      await drained;
      await stderr;
    },
  };
}

/** A headless Chromium with a fresh profile; `close()` also removes the profile. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless with a fresh profile directory, fixed time zone and locale.
 * @throws {Error} when the browser cannot start
 */
export async function launchBrowser(): Promise<Browser> {
  const profile = Deno.makeTempDirSync({ prefix: "rawserve-chromium-" });
  try {
    // launchPersistentContext passes the profile as --user-data-dir (launch() would make its own).
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timezoneId: TIME_ZONE,
      locale: "en-GB",
      viewport: DESKTOP,
      timeout: 30_000,
    });
    return {
      context,
      async close() {
        await context.close();
        Deno.removeSync(profile, { recursive: true });
      },
    };
  } catch (e) {
    Deno.removeSync(profile, { recursive: true });
    throw e;
  }
}

/** The pictures: file name, viewport, color scheme. */
export const SHOTS = [
  ["listing-desktop-light.png", DESKTOP, "light"],
  ["listing-desktop-dark.png", DESKTOP, "dark"],
  ["listing-phone-light.png", PHONE, "light"],
] as const;

/**
 * Serves a fresh tree, and saves each of SHOTS of its `projects/` listing (sorted by name) in `outDir`.
 * @returns the paths written
 */
export async function takeListingScreenshots(outDir: string): Promise<string[]> {
  Deno.mkdirSync(outDir, { recursive: true });
  const tree = Deno.makeTempDirSync({ prefix: "rawserve-listing-" });
  const written: string[] = [];
  try {
    const server = await startCli(makeListingTree(tree));
    try {
      const browser = await launchBrowser();
      try {
        const page = await browser.context.newPage();
        for (const [name, viewport, colorScheme] of SHOTS) {
          await page.setViewportSize(viewport);
          await page.emulateMedia({ colorScheme });
          await page.goto(`${server.origin}/projects/`);
          const path = `${outDir.replace(/\/$/, "")}/${name}`;
          await page.screenshot({ path, fullPage: viewport === PHONE ? false : true });
          written.push(path);
        }
      } finally {
        await browser.close();
      }
    } finally {
      await server.stop();
    }
  } finally {
    Deno.removeSync(tree, { recursive: true });
  }
  return written;
}

/**
 * The status page of a server that has a few clients: some kept alive after their requests, one
 * still sending a request head, so the table shows phases side by side.
 * @returns the path written
 */
export async function takeStatusScreenshot(outDir: string): Promise<string> {
  Deno.mkdirSync(outDir, { recursive: true });
  const tree = Deno.makeTempDirSync({ prefix: "rawserve-status-" });
  const clients: Deno.Conn[] = [];
  const path = `${outDir.replace(/\/$/, "")}/status-desktop-light.png`;
  try {
    const server = await startCli(makeListingTree(tree), ["--status", "/status", "--metrics", "/metrics"]);
    try {
      const port = Number(new URL(server.origin).port);
      for (let i = 0; i < 4; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        clients.push(conn);
        const partial = i === 3; // a head not finished yet
        await conn.write(new TextEncoder().encode(
          partial ? "GET /projects/ HTTP/1.1\r\nHost: x\r\n" : "GET /projects/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        if (!partial) await conn.read(new Uint8Array(64 * 1024));
      }
      const browser = await launchBrowser();
      try {
        const page = await browser.context.newPage();
        await page.setViewportSize(DESKTOP);
        await page.emulateMedia({ colorScheme: "light" });
        await page.goto(`${server.origin}/status`);
        await page.screenshot({ path, fullPage: true });
      } finally {
        await browser.close();
      }
    } finally {
      for (const conn of clients) conn.close();
      await server.stop();
    }
  } finally {
    Deno.removeSync(tree, { recursive: true });
  }
  return path;
}

if (import.meta.main) {
  const out = Deno.args[0] ?? `${ROOT}docs/images`;
  for (const path of await takeListingScreenshots(out)) console.log(path);
  console.log(await takeStatusScreenshot(out));
}
