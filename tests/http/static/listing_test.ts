// The directory listing on its own: natural order with directories first, the sort query and its
// strict reading, breadcrumbs, escaping of hostile names, the cut made after sorting, the page's
// CSP matching its inline style and script, and the JSON listing sorted the same way.

import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  breadcrumbs,
  listDirectory,
  ListingGate,
  MAX_CONCURRENT_LISTINGS,
} from "../../../http/static/listing.ts";
import {
  compareNames,
  DEFAULT_ORDER,
  type ListingOrder,
  MAX_LISTING_ENTRIES,
  parseListingOrder,
  sortAndCut,
} from "../../../http/static/listing_order.ts";
import { createStaticHandler } from "../../../http/static/static_handler.ts";
import type { DirEntry, StaticFs } from "../../../http/static/types.ts";
import type { HttpResponse } from "../../../http/types.ts";
import { field, memoryFs, request } from "./_memory_fs.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1, 12, 0);

function entry(name: string, size = 0, mtimeMs = T0, isDirectory = false): DirEntry {
  return { name, isDirectory, size, mtimeMs };
}

/** A StaticFs whose only working call is readDir, answering `entries` (copied per call). */
function dirFs(entries: DirEntry[], truncated = false): StaticFs {
  const unused = () => {
    throw new Error("not used by listings");
  };
  return {
    open: unused,
    stat: unused,
    readWhole: unused,
    close: unused,
    readDir: () => Promise.resolve({ entries: entries.map((e) => ({ ...e })), truncated }),
  };
}

/** Lists `entries` at `urlPath` with `query`, as HTML or JSON. */
function list(entries: DirEntry[], query = "", json = false, truncated = false, urlPath = "/") {
  return listDirectory(dirFs(entries, truncated), "", {
    urlPath,
    query,
    dotfiles: false,
    json,
    headers: [],
    error: (status) => ({ status }),
  });
}

/** The names of a JSON listing, in order. */
function jsonNames(response: HttpResponse): string[] {
  return (JSON.parse(String(response.body)) as { name: string }[]).map((e) => e.name);
}

/** The names a listing page links to, in order (the parent row left out). */
function pageNames(response: HttpResponse): string[] {
  const body = String(response.body);
  const tbody = body.slice(body.indexOf("<tbody>"), body.indexOf("</tbody>"));
  return [...tbody.matchAll(/<td class="name"><a href="[^"]*">([^<]*)<\/a>/g)].map((m) => m[1]!)
    .filter((n) => n !== "../");
}

Deno.test("compareNames() orders digits as numbers and letters without case", () => {
  const names = ["item-10", "item-2", "Item-3", "item-1", "b", "A", "a", "item-01", "item", "x9y", "x10y"];
  names.sort(compareNames);
  assert.deepEqual(names, [
    "A",
    "a",
    "b",
    "item",
    "item-01",
    "item-1",
    "item-2",
    "Item-3",
    "item-10",
    "x9y",
    "x10y",
  ]);
  // Huge runs of digits compare by length first (no float rounding), then digit by digit.
  assert.ok(compareNames("v99999999999999999999", "v100000000000000000000") < 0);
  assert.ok(compareNames("v100000000000000000001", "v100000000000000000000") > 0);
  assert.equal(compareNames("same", "same"), 0);
});

Deno.test("directories come first in every order; sizes and dates sort with ties by name", async () => {
  const entries = [
    entry("b.txt", 300, T0 + 2 * DAY),
    entry("item-10", 0, T0, true),
    entry("a.txt", 300, T0),
    entry("item-2", 0, T0 + DAY, true),
    entry("c.txt", 5, T0 + DAY),
  ];
  const sorted = async (order: ListingOrder) => (await sortAndCut(entries, order)).map((e) => e.name);
  assert.deepEqual(await sorted(DEFAULT_ORDER), ["item-2", "item-10", "a.txt", "b.txt", "c.txt"]);
  assert.deepEqual(await sorted({ sort: "name", order: "desc" }), [
    "item-10",
    "item-2",
    "c.txt",
    "b.txt",
    "a.txt",
  ]);
  assert.deepEqual(await sorted({ sort: "size", order: "desc" }), [
    "item-2",
    "item-10",
    "a.txt",
    "b.txt",
    "c.txt",
  ]);
  assert.deepEqual(await sorted({ sort: "size", order: "asc" }), [
    "item-2",
    "item-10",
    "c.txt",
    "a.txt",
    "b.txt",
  ]);
  assert.deepEqual(await sorted({ sort: "date", order: "desc" }), [
    "item-2",
    "item-10",
    "b.txt",
    "c.txt",
    "a.txt",
  ]);
  assert.deepEqual(await sorted({ sort: "date", order: "asc" }), [
    "item-10",
    "item-2",
    "a.txt",
    "c.txt",
    "b.txt",
  ]);
});

Deno.test("parseListingOrder() takes only the exact values, each once, and ignores other parameters", () => {
  const ok: [string, ListingOrder][] = [
    ["", DEFAULT_ORDER],
    ["?", DEFAULT_ORDER],
    ["?v=3", DEFAULT_ORDER],
    ["?sort=size", { sort: "size", order: "asc" }],
    ["?order=desc", { sort: "name", order: "desc" }],
    ["?sort=date&order=desc", { sort: "date", order: "desc" }],
    ["?order=asc&x&sort=name", { sort: "name", order: "asc" }],
    ["sort=size&order=desc", { sort: "size", order: "desc" }],
  ];
  for (const [query, expected] of ok) assert.deepEqual(parseListingOrder(query), expected, query);
  const bad = [
    "?sort=",
    "?sort",
    "?sort=SIZE",
    "?sort=size ",
    "?sort=%73ize",
    "?sort=bytes",
    "?order=up",
    "?order=",
    "?sort=size&sort=size",
    "?order=asc&order=desc",
    "?sort=name;drop",
  ];
  for (const query of bad) assert.equal(parseListingOrder(query), null, query);
});

Deno.test("breadcrumbs() link the root and every segment by relative paths", () => {
  assert.deepEqual(breadcrumbs("/"), [{ label: "/", href: "./" }]);
  assert.deepEqual(breadcrumbs("/a/b c/d/"), [
    { label: "/", href: "../../../" },
    { label: "a", href: "../../" },
    { label: "b c", href: "../" },
    { label: "d", href: "./" },
  ]);
});

Deno.test("the page links breadcrumbs, parent and columns, keeping a chosen order in directory links", async () => {
  const entries = [entry("sub", 0, T0, true), entry("f.txt", 2048)];
  const plain = String((await list(entries, "", false, false, "/a/b/")).body);
  assert.match(plain, /<a href="\.\.\/\.\.\/">\/<\/a><a href="\.\.\/">a<\/a><span class="sep">\/<\/span>/);
  assert.match(plain, /<a href="\.\/" class="here" aria-current="page">b<\/a>/);
  assert.match(plain, /<tr class="up"><td class="name"><a href="\.\.\/">\.\.\/<\/a>/);
  // The current column toggles; the others start where people look first.
  assert.match(
    plain,
    /<th class="name" aria-sort="ascending"><a class="on" href="\.\/\?sort=name&#38;order=desc">Name ▲/,
  );
  assert.match(plain, /<th class="size"><a href="\.\/\?sort=size&#38;order=desc">Size<\/a>/);
  assert.match(
    plain,
    /<th class="date" id="date-head" title="UTC"><a href="\.\/\?sort=date&#38;order=desc">Modified/,
  );
  assert.match(plain, /<a href="sub\/">sub\/<\/a>/);

  const bySize = String((await list(entries, "?sort=size&order=desc", false, false, "/a/b/")).body);
  assert.match(
    bySize,
    /<th class="size" aria-sort="descending"><a class="on" href="\.\/\?sort=size&#38;order=asc">Size ▼/,
  );
  assert.match(bySize, /<th class="name"><a href="\.\/">Name<\/a>/, "back to the default: a plain link");
  assert.match(bySize, /<a href="sub\/\?sort=size&#38;order=desc">sub\/<\/a>/);
  assert.match(bySize, /<a href="\.\.\/\?sort=size&#38;order=desc">\.\.\/<\/a>/);
  assert.match(bySize, /<a href="f.txt">f.txt<\/a>/, "files are linked without the query");
});

Deno.test("sizes are human with exact bytes on hover; dates are ISO for the script and labelled UTC without it", async () => {
  const body = String((await list([entry("big.bin", 1_234_567, Date.UTC(2026, 0, 2, 3, 4, 5))])).body);
  assert.match(
    body,
    /<td class="size" title="1,234,567 bytes">1.2 MiB<\/td><td class="date"><time datetime="2026-01-02T03:04:05.000Z">2026-01-02 03:04 UTC<\/time>/,
  );
  assert.match(body, /1 file \(1.2 MiB\)/);
});

Deno.test("hostile names are escaped in text and attributes, and percent-encoded in links", async () => {
  const names = [`<script>alert(1)</script>`, `a"b'c`, "&amp;", "été 日本.txt", "with space", "q?x#y", "c:d"];
  const entries = [...names.map((n) => entry(n, 1)), entry(`<img src=x>`, 0, T0, true)];
  const response = await list(entries, "", false, false, `/<b>&"/`);
  const body = String(response.body);
  assert.doesNotMatch(body, /<script>alert|<img|<b>|a"b/);
  assert.match(
    body,
    /<a href="%3Cscript%3Ealert\(1\)%3C%2Fscript%3E">&#60;script&#62;alert\(1\)&#60;\/script&#62;<\/a>/,
  );
  assert.match(body, /<a href="a%22b&#39;c">a&#34;b&#39;c<\/a>/);
  assert.match(body, /<a href="%26amp%3B">&#38;amp;<\/a>/);
  assert.match(body, /<a href="%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC.txt">été 日本.txt<\/a>/);
  assert.match(body, /<a href="q%3Fx%23y">q\?x#y<\/a>/);
  assert.match(body, /<a href="c%3Ad">c:d<\/a>/, "a colon never reads as a scheme");
  assert.match(body, /<a href="%3Cimg%20src%3Dx%3E\/">&#60;img src=x&#62;\/<\/a>/);
  assert.match(body, /<title>Index of \/&#60;b&#62;&#38;&#34;\/<\/title>/);
  assert.match(body, /<a href="\.\/" class="here" aria-current="page">&#60;b&#62;&#38;&#34;<\/a>/);
  // JSON carries the names as they are.
  assert.deepEqual(jsonNames(await list(entries, "", true)).sort(), [...names, `<img src=x>`].sort());
});

Deno.test("with more entries than a listing shows, the cut is made after sorting, in the order asked", async () => {
  const n = MAX_LISTING_ENTRIES + 50;
  const entries: DirEntry[] = [];
  // Disk order unrelated to any sort: sizes and dates shuffled by a multiplier prime to n.
  for (let i = 0; i < n; i++) {
    const k = (i * 7919) % n;
    entries.push(entry(`item-${k}`, 1000 + ((k * 31) % n), T0 + ((k * 17) % n) * 1000));
  }
  const bySizeDesc = await list(entries, "?sort=size&order=desc", true);
  assert.equal(field(bySizeDesc, "Listing-Truncated"), "true");
  const sizes = (JSON.parse(String(bySizeDesc.body)) as { size: number }[]).map((e) => e.size);
  assert.equal(sizes.length, MAX_LISTING_ENTRIES);
  assert.equal(sizes[0], 1000 + n - 1, "the biggest file is shown first");
  assert.equal(sizes.at(-1), 1000 + 50, "the 50 smallest are the ones cut");
  assert.ok(
    sizes.every((size, i) => i === 0 || size < sizes[i - 1]!),
    "in order across the runs sorted apart",
  );

  const byName = jsonNames(await list(entries, "", true));
  assert.deepEqual(byName.slice(0, 3), ["item-0", "item-1", "item-2"]);
  assert.equal(byName.at(-1), `item-${MAX_LISTING_ENTRIES - 1}`);

  const byDateAsc = await list(entries, "?sort=date&order=asc", true);
  const times = (JSON.parse(String(byDateAsc.body)) as { mtime: string }[]).map((e) => Date.parse(e.mtime));
  assert.equal(times[0], T0, "the oldest first");
  assert.equal(times.at(-1), T0 + (MAX_LISTING_ENTRIES - 1) * 1000);

  const page = await list(entries, "?sort=name&order=desc");
  const names = pageNames(page);
  assert.equal(names.length, MAX_LISTING_ENTRIES);
  assert.equal(names[0], `item-${n - 1}`);
  assert.match(String(page.body), /showing the first 10,000 of 10,050 entries in this order/);
});

Deno.test("sorting a long directory gives the event loop turns while it works", async () => {
  const entries = Array.from({ length: 50_000 }, (_, i) => entry(`f-${(i * 7919) % 50_000}`, i));
  let turns = 0, done = false;
  const tick = () => {
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const shown = await sortAndCut(entries, DEFAULT_ORDER);
  done = true;
  assert.deepEqual(shown.slice(0, 3).map((e) => e.name), ["f-0", "f-1", "f-2"]);
  assert.ok(turns >= 5, `${turns} turns while 50,000 entries sorted`);
});

Deno.test("at most MAX_CONCURRENT_LISTINGS listings read at once; the rest wait their turn in order", async () => {
  const releases: (() => void)[] = [];
  let reading = 0, most = 0;
  const fs = dirFs([]);
  fs.readDir = () => {
    reading++;
    most = Math.max(most, reading);
    return new Promise((resolve) =>
      releases.push(() => {
        reading--;
        resolve({ entries: [entry("a", 1)], truncated: false });
      })
    );
  };
  const gate = new ListingGate();
  const options = {
    urlPath: "/",
    query: "",
    dotfiles: false,
    json: true,
    headers: [],
    error: (status: number) => ({ status }),
    gate,
  };
  const answers = Array.from({ length: MAX_CONCURRENT_LISTINGS + 3 }, () => listDirectory(fs, "", options));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(releases.length, MAX_CONCURRENT_LISTINGS, "the others wait before reading");
  assert.equal(gate.waiting, 3);
  for (let released = 0; released < MAX_CONCURRENT_LISTINGS + 3; released++) {
    releases[released]!();
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(most, MAX_CONCURRENT_LISTINGS);
  for (const answer of await Promise.all(answers)) assert.equal(answer.status, 200);
  assert.equal(gate.waiting, 0);
  // A failed read frees its place too.
  fs.readDir = () => Promise.reject(new Deno.errors.PermissionDenied());
  const denied = await Promise.all(
    Array.from({ length: MAX_CONCURRENT_LISTINGS + 1 }, () => listDirectory(fs, "", options)),
  );
  assert.deepEqual(denied.map((a) => a.status), Array(MAX_CONCURRENT_LISTINGS + 1).fill(403));
  fs.readDir = () => Promise.resolve({ entries: [], truncated: false });
  assert.equal((await listDirectory(fs, "", options)).status, 200, "every place came back");
});

Deno.test("a directory read only in part says so; one that fits says nothing", async () => {
  const cut = String((await list([entry("a", 1)], "", false, true)).body);
  assert.match(cut, /showing the first 1 of more entries than a listing reads/);
  const whole = await list([entry("a", 1)], "", true, false);
  assert.equal(field(whole, "Listing-Truncated"), undefined);
  assert.doesNotMatch(String((await list([entry("a", 1)])).body), /showing the first/);
});

Deno.test("the page's CSP loads nothing from elsewhere and allows exactly its inline style and script", async () => {
  const response = await list([entry("a", 1)]);
  const csp = field(response, "Content-Security-Policy")!;
  const body = String(response.body);
  const sha = async (text: string) =>
    btoa(
      String.fromCharCode(
        ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
      ),
    );
  const style = body.match(/<style>([\s\S]*?)<\/style>/)![1]!;
  const script = body.match(/<script>([\s\S]*?)<\/script>/)![1]!;
  assert.equal(
    csp,
    `default-src 'none'; style-src 'sha256-${await sha(style)}'; script-src 'sha256-${await sha(script)}'; ` +
      "base-uri 'none'; form-action 'none'",
  );
  assert.equal(body.match(/<script/g)!.length, 1);
  assert.doesNotMatch(body, / style="| on[a-z]+="/, "no inline attributes a hash cannot allow");
  assert.equal(field(await list([entry("a", 1)], "", true), "Content-Security-Policy"), undefined);
});

Deno.test("the static handler answers a malformed sort with 400 and sorts JSON as the page", async () => {
  const fs = memoryFs({
    "item-10.txt": { data: new Uint8Array(10), mtimeMs: T0, ino: 1 },
    "item-2.txt": { data: new Uint8Array(300), mtimeMs: T0, ino: 2 },
    "item-1.txt": { data: new Uint8Array(20), mtimeMs: T0, ino: 3 },
    "d/x": { data: new Uint8Array(1), mtimeMs: T0, ino: 4 },
  });
  const handler = createStaticHandler({ fs, listing: true, dotfiles: false });
  const get = async (path: string, accept = "application/json") =>
    (await handler(request("GET", path, ["accept", accept]))) as HttpResponse;
  assert.deepEqual(jsonNames(await get("/")), ["d", "item-1.txt", "item-2.txt", "item-10.txt"]);
  assert.deepEqual(jsonNames(await get("/?sort=size&order=desc")), [
    "d",
    "item-2.txt",
    "item-1.txt",
    "item-10.txt",
  ]);
  assert.deepEqual(pageNames(await get("/?sort=size&order=desc", "text/html")), [
    "d/",
    "item-2.txt",
    "item-1.txt",
    "item-10.txt",
  ]);
  assert.equal((await get("/?sort=bogus")).status, 400);
  assert.equal((await get("/?order=desc&order=asc", "text/html")).status, 400);
  assert.equal(fs.openCount, 0);
});
