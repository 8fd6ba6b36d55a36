// End-to-end: the directory listing in headless Chromium (Debian's, driven by playwright-core), served
// by the real CLI from a tree of varied files. On a desktop and a phone (375 px), light and dark:
// sizes and dates never wrap, sorting links work with and without script, the filter hides rows,
// breadcrumbs link up, dates show in local time (labelled UTC without script), and the page's CSP
// blocks nothing of its own. Skipped, with the reason in its name, when Chromium cannot be had.

/// <reference lib="dom" />

import assert from "node:assert/strict";
// A dependency of this script and its test only: kept out of the import map users inherit (deno.json).
// deno-lint-ignore no-import-prefix
import type { Page } from "npm:playwright-core@1.65.2";
import { loadScreenshots } from "./_chromium.ts";

type Screenshots = typeof import("../../scripts/screenshots.ts");

const { shots, skip } = await loadScreenshots();

/** The files of the tree beneath projects/, as [name, size, modified ms]. */
function treeFiles(s: Screenshots): [string, number, number][] {
  return s.TREE.filter((e) => e[1] !== null).map(([n, size, m]) => [n, size!, Date.parse(m)]);
}

/** Names of the rows shown (not hidden by the filter), the parent row left out. */
function shownNames(page: Page): Promise<string[]> {
  return page.$$eval(
    "tbody tr:not(.up)",
    (rows) => rows.filter((r) => !(r as HTMLElement).hidden).map((r) => r.querySelector("a")!.textContent!),
  );
}

/**
 * For every cell matched: how many lines its content takes, as the height of the box around its
 * content over the line height (a table cell's own box is as tall as its row, so it is not used).
 */
function cellLines(page: Page, selector: string): Promise<{ text: string; lines: number }[]> {
  return page.$$eval(selector, (cells) =>
    cells.filter((c) => c.textContent !== "").map((c) => {
      const range = document.createRange();
      range.selectNodeContents(c);
      const height = range.getBoundingClientRect().height;
      return { text: c.textContent!, lines: height / parseFloat(getComputedStyle(c).lineHeight) };
    }));
}

/** Relative luminance (0 black .. 1 white) of a CSS `rgb(r, g, b)`. */
function luminance(rgb: string): number {
  const [r, g, b] = rgb.match(/\d+/g)!.map((v) => Number(v) / 255);
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** Checks that no size or date wraps, that names do wrap where they must, and nothing scrolls sideways. */
async function assertNoWrap(page: Page, label: string, phone: boolean) {
  for (const cell of await cellLines(page, "tbody td.size, tbody td.date")) {
    assert.ok(cell.lines < 1.5, `${label}: "${cell.text}" takes ${cell.lines.toFixed(2)} lines`);
  }
  const names = await cellLines(page, "tbody td.name");
  const long = names.find((n) => n.text.startsWith("a-rather-long"))!;
  // The measure can see a wrap: on a phone the long name takes two lines or more.
  if (phone) assert.ok(long.lines >= 1.5, `${label}: the long name wraps (${long.lines.toFixed(2)} lines)`);
  else assert.ok(long.lines < 1.5, `${label}: the long name fits on a desktop`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  assert.ok(overflow <= 0, `${label}: the page scrolls sideways by ${overflow} px`);
}

Deno.test({
  name: skip
    ? `the listing in headless Chromium (skipped: ${skip})`
    : "the listing in headless Chromium: layouts, sorting, filter, breadcrumbs, local dates, CSP",
  ignore: skip !== null,
  // playwright-core keeps a pipe to the browser and timers of its own until close() settles them.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const s = shots!;
    const tree = Deno.makeTempDirSync({ prefix: "rawserve-listing-browser-" });
    const server = await s.startCli(s.makeListingTree(tree));
    const browser = await s.launchBrowser().catch(async (e) => {
      await server.stop();
      Deno.removeSync(tree, { recursive: true });
      throw e;
    });
    const problems: string[] = [];
    try {
      const page = await browser.context.newPage();
      page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
      page.on("pageerror", (e) => problems.push(e.message));
      const files = treeFiles(s);
      const dirs = s.TREE.filter((e) => e[1] === null).map((e) => `${e[0]}/`);
      const url = `${server.origin}/projects/`;

      for (const [viewport, phone] of [[s.DESKTOP, false], [s.PHONE, true]] as const) {
        for (const colorScheme of ["light", "dark"] as const) {
          const label = `${phone ? "phone" : "desktop"} ${colorScheme}`;
          await t.step(`${label}: sizes and dates stay on one line`, async () => {
            await page.setViewportSize(viewport);
            await page.emulateMedia({ colorScheme });
            await page.goto(url);
            await assertNoWrap(page, label, phone);
            const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
            if (colorScheme === "dark") assert.ok(luminance(bg) < 0.2, `${label}: background ${bg}`);
            else assert.ok(luminance(bg) > 0.8, `${label}: background ${bg}`);
          });
        }
      }

      await page.setViewportSize(s.DESKTOP);
      await page.emulateMedia({ colorScheme: "light" });

      await t.step(
        "natural order, directories first; exact bytes on hover; dates in local time",
        async () => {
          await page.goto(url);
          const byName = files.map((f) => f[0]).sort((a, b) =>
            a.toLowerCase().localeCompare(b.toLowerCase(), "en", { numeric: true })
          );
          assert.deepEqual(await shownNames(page), [...dirs, ...byName]);
          const readme = page.locator("tr", { has: page.locator('a[href="README.md"]') });
          assert.equal(await readme.locator("td.size").getAttribute("title"), "4,812 bytes");
          assert.equal(await readme.locator("td.size").textContent(), "4.7 KiB");
          // 2026-12-04T10:21Z in Berlin (UTC+1 in December).
          assert.equal(await readme.locator("time").textContent(), "2026-12-04 11:21");
          assert.equal(await page.locator("#date-head").getAttribute("title"), `Local time (${s.TIME_ZONE})`);
        },
      );

      await t.step("column links sort by size, toggle the order, and by date", async () => {
        await page.goto(url);
        await page.click("th.size a");
        assert.equal(new URL(page.url()).search, "?sort=size&order=desc");
        const bySize = [...files].sort((a, b) => b[1] - a[1]).map((f) => f[0]);
        assert.deepEqual(await shownNames(page), [...dirs, ...bySize]);
        assert.equal(await page.locator("th.size").getAttribute("aria-sort"), "descending");
        await page.click("th.size a");
        assert.equal(new URL(page.url()).search, "?sort=size&order=asc");
        assert.deepEqual((await shownNames(page)).slice(dirs.length), bySize.toReversed());
        await page.click("th.date a");
        assert.equal(new URL(page.url()).search, "?sort=date&order=desc");
        const newest = [...files].sort((a, b) => b[2] - a[2])[0]![0];
        assert.equal((await shownNames(page))[dirs.length], newest);
        await page.click("th.name a");
        assert.equal(new URL(page.url()).search, "", "back to the default order");
      });

      await t.step("the filter hides rows that do not match, and Escape shows them again", async () => {
        await page.goto(url);
        await page.keyboard.press("/");
        await page.keyboard.type("TRACK");
        assert.deepEqual(await shownNames(page), ["track-02.flac", "track-10.flac"]);
        assert.equal(await page.locator("#count").textContent(), `2 of ${s.TREE.length}`);
        await page.keyboard.press("Escape");
        assert.equal((await shownNames(page)).length, s.TREE.length);
      });

      await t.step("breadcrumbs and directory links go up and down, keeping the order", async () => {
        await page.goto(`${url}?sort=size&order=desc`);
        await page.click('a[href="item-10/?sort=size&order=desc"]');
        assert.equal(page.url(), `${server.origin}/projects/item-10/?sort=size&order=desc`);
        const crumbs = await page.$$eval(".crumbs a", (as) => as.map((a) => a.textContent));
        assert.deepEqual(crumbs, ["/", "projects", "item-10"]);
        await page.click(".crumbs a >> text=projects");
        assert.equal(page.url(), `${url}?sort=size&order=desc`);
        await page.click(".crumbs a >> nth=0");
        assert.equal(page.url(), `${server.origin}/?sort=size&order=desc`);
        assert.deepEqual(await shownNames(page), ["projects/"]);
      });

      await t.step(
        "without script: no filter box, dates labelled UTC, sorting links still work",
        async () => {
          const cdp = await browser.context.newCDPSession(page);
          await cdp.send("Emulation.setScriptExecutionDisabled", { value: true });
          try {
            await page.goto(url);
            assert.equal(await page.locator("#filter").isVisible(), false);
            const readme = page.locator("tr", { has: page.locator('a[href="README.md"]') });
            assert.equal(await readme.locator("time").textContent(), "2026-12-04 10:21 UTC");
            await page.click("th.size a");
            assert.equal(new URL(page.url()).search, "?sort=size&order=desc");
            assert.equal((await shownNames(page))[dirs.length], "backup-2026-11.tar.zst");
            await page.setViewportSize(s.PHONE);
            await assertNoWrap(page, "phone without script", true);
          } finally {
            await cdp.send("Emulation.setScriptExecutionDisabled", { value: false });
            await cdp.detach();
          }
        },
      );

      await t.step("hostile names show as text and their links open them", async () => {
        await page.setViewportSize(s.DESKTOP);
        await page.goto(url);
        const name = "notes <draft> & ideas.txt";
        assert.ok((await shownNames(page)).includes(name));
        const response = await Promise.all([
          page.waitForResponse(() => true),
          page.getByRole("link", { name, exact: true }).click(),
        ]);
        assert.equal(response[0].status(), 200);
        assert.equal(decodeURIComponent(new URL(page.url()).pathname), `/projects/${name}`);
      });

      assert.deepEqual(problems, [], "no console errors (a CSP violation is one)");
    } finally {
      await browser.close();
      await server.stop();
      Deno.removeSync(tree, { recursive: true });
    }

    await t.step("scripts/screenshots.ts writes the README's pictures", async () => {
      const out = Deno.makeTempDirSync({ prefix: "rawserve-shots-" });
      try {
        const written = await s.takeListingScreenshots(out);
        assert.deepEqual(written, s.SHOTS.map(([name]) => `${out}/${name}`));
        for (const [[, viewport], path] of s.SHOTS.map((shot, i) => [shot, written[i]!] as const)) {
          const png = Deno.readFileSync(path);
          assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
          const width = new DataView(png.buffer, png.byteOffset).getUint32(16); // IHDR's width
          assert.equal(width, viewport.width, path);
        }
      } finally {
        Deno.removeSync(out, { recursive: true });
      }
    });
  },
});
