// The order of a directory listing: the query that asks for one (`?sort=name|size|date&order=
// asc|desc`, read strictly), natural name order with directories first, and the sort made in runs
// with reactor turns between them, cut to MAX_LISTING_ENTRIES after sorting (never in disk order).

import { setImmediate } from "node:timers";
import type { DirEntry } from "./types.ts";

/**
 * Most entries a listing shows, after sorting. Past a few thousand rows a page is searched, not
 * read, and its size (~300 bytes a row) and the browser's layout time grow with it.
 */
export const MAX_LISTING_ENTRIES = 10_000;

/** One entry of a JSON listing. */
export interface ListingEntry {
  name: string;
  type: "file" | "directory";
  /** Bytes of a file; null for a directory. */
  size: number | null;
  /** Modification time, ISO 8601 in UTC (`2026-11-26T10:00:00.000Z`). */
  mtime: string;
}

/** The columns a listing sorts by, as the query names them. */
export const SORT_KEYS = ["name", "size", "date"] as const;
/** A column a listing sorts by. */
export type SortKey = typeof SORT_KEYS[number];
/** The directions, as the query names them. */
export const SORT_ORDERS = ["asc", "desc"] as const;

/** How a listing is sorted. Directories always come first. */
export interface ListingOrder {
  sort: SortKey;
  order: typeof SORT_ORDERS[number];
}

/** Names ascending: what a listing shows without a query. */
export const DEFAULT_ORDER: ListingOrder = { sort: "name", order: "asc" };

/** The first click on a column: names A to Z, the biggest and the newest first. */
export const FIRST_ORDER = { name: "asc", size: "desc", date: "desc" } as const;

/**
 * Reads a listing's order from a query string. Only `sort` and `order` are read, and only their
 * exact values (`sort=name|size|date`, `order=asc|desc`), each at most once; other parameters are
 * ignored, so a cache-busting `?v=2` still lists.
 * @param query the request target's query, with or without its `?` ("" for none)
 * @returns the order (DEFAULT_ORDER's parts where absent), or null when it is malformed (answer 400)
 */
export function parseListingOrder(query: string): ListingOrder | null {
  let sort: string | null = null, order: string | null = null;
  for (const part of (query.startsWith("?") ? query.slice(1) : query).split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? null : part.slice(eq + 1);
    if (key === "sort") {
      if (sort !== null || !SORT_KEYS.includes(value as SortKey)) return null;
      sort = value;
    } else if (key === "order") {
      if (order !== null || !SORT_ORDERS.includes(value as ListingOrder["order"])) return null;
      order = value;
    }
  }
  return {
    sort: (sort ?? DEFAULT_ORDER.sort) as SortKey,
    order: (order ?? DEFAULT_ORDER.order) as ListingOrder["order"],
  };
}

/** The query string that asks for `order` ("" for the default, so plain links stay plain). */
export function orderQuery(order: ListingOrder): string {
  if (order.sort === DEFAULT_ORDER.sort && order.order === DEFAULT_ORDER.order) return "";
  return `?sort=${order.sort}&order=${order.order}`;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57; // '0'..'9'
}

/**
 * A name's sort key: lower-cased, each run of digits as `0`, its length without leading zeros (as
 * one character), then those digits; so comparing keys as strings compares runs of digits as
 * numbers of any size. `0` marks runs only: every other `0` belongs to one, and a digit compares with
 * any other character as `0` does (digits are contiguous, 48..57).
 */
function naturalKey(name: string): string {
  const x = name.toLowerCase();
  let key = "", from = 0;
  for (let i = 0; i < x.length;) {
    if (!isDigit(x.charCodeAt(i))) {
      i++;
      continue;
    }
    key += x.slice(from, i);
    let s = i;
    while (x.charCodeAt(s) === 48) s++;
    let e = s;
    while (isDigit(x.charCodeAt(e))) e++;
    key += "0" + String.fromCharCode(0x100 + e - s) + x.slice(s, e);
    i = from = e;
  }
  return key + x.slice(from);
}

/** Two names by their keys, and names with equal keys by their code units (so the order is total). */
function compareKeys(x: string, y: string, a: string, b: string): number {
  return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Natural order of names: runs of digits compare as numbers (`item-2` before `item-10`), letters
 * without regard to case; names equal that way compare by their UTF-16 code units, so the order is
 * total and the same on every machine (no locale).
 * @returns negative, zero or positive, as Array.prototype.sort wants
 */
export function compareNames(a: string, b: string): number {
  return compareKeys(naturalKey(a), naturalKey(b), a, b);
}

/** An entry with its name's sort key, made once. */
interface Keyed {
  entry: DirEntry;
  key: string;
}

/**
 * The comparison a listing sorts by: directories first, then the column (directories have no
 * size, so by size they stay in name order), ties by name ascending.
 * @param order the column and direction
 */
function compareKeyed(order: ListingOrder): (a: Keyed, b: Keyed) => number {
  const sign = order.order === "asc" ? 1 : -1;
  const names = (a: Keyed, b: Keyed) => compareKeys(a.key, b.key, a.entry.name, b.entry.name);
  return (a, b) => {
    const x = a.entry, y = b.entry;
    const kind = Number(y.isDirectory) - Number(x.isDirectory);
    if (kind !== 0) return kind;
    if (order.sort === "name") return sign * names(a, b);
    const by = order.sort === "date" ? x.mtimeMs - y.mtimeMs : x.isDirectory ? 0 : x.size - y.size;
    return by !== 0 ? sign * by : names(a, b);
  };
}

/**
 * Entries sorted in one turn of the event loop (~10 ms here): a long listing sorts in runs of this
 * size with the reactor's turns between them, then merges the runs' heads.
 */
const SORT_RUN = 8_192;

/** Lets the reactor (and every other connection) have a turn. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Sorts entries and keeps the first `max`: the cut respects the order asked for. Directories come
 * first, then the column (directories have no size, so by size they stay in name order), ties by
 * name ascending. It runs on the reactor's thread, in runs of SORT_RUN entries with a turn between
 * them; MAX_LISTING_SCAN (app/site/static_fs.ts) bounds the entries and so the runs.
 * @param entries every entry read
 * @returns the entries shown, in order
 */
export async function sortAndCut(
  entries: readonly DirEntry[],
  order: ListingOrder,
  max = MAX_LISTING_ENTRIES,
): Promise<DirEntry[]> {
  const compare = compareKeyed(order);
  const runs: Keyed[][] = [];
  for (let i = 0; i < entries.length; i += SORT_RUN) {
    if (i > 0) await nextTurn();
    const run = entries.slice(i, i + SORT_RUN).map((entry): Keyed => ({
      entry,
      key: naturalKey(entry.name),
    }));
    run.sort(compare);
    if (run.length > max) run.length = max;
    runs.push(run);
  }
  // Merge: the least of the runs' heads, `max` times (a few runs: a scan beats a heap).
  const heads = new Array<number>(runs.length).fill(0);
  const out: DirEntry[] = [];
  while (out.length < max) {
    let best = -1;
    for (let r = 0; r < runs.length; r++) {
      const head = runs[r]![heads[r]!];
      if (head && (best < 0 || compare(head, runs[best]![heads[best]!]!) < 0)) best = r;
    }
    if (best < 0) break;
    out.push(runs[best]![heads[best]!++]!.entry);
  }
  return out;
}
