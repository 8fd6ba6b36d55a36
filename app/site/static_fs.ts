// The static server's view of the served directory (http/static's StaticFs), composed from the
// contained opens of ffi/files.ts, and directory listings through Deno's file system API (on its
// thread pool, never on the reactor) with the containment the kernel gives opens checked by path.

import {
  closeFd,
  type FileStat,
  needsPathContainmentCheck,
  openBeneath,
  openRoot,
  readWhole,
  statFd,
} from "../../ffi/files.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { ENOTDIR, EXDEV } from "../../ffi/errno_numbers.ts";
import type { DirEntry, StaticFs } from "../../http/static/types.ts";

/**
 * Most entries a listing reads. The listing sorts what it reads and shows the first
 * MAX_LISTING_ENTRIES (http/static/listing_order.ts) in the order asked for, so it must read past them;
 * reading runs on Deno's thread pool, never on the reactor, but its time and memory grow with the
 * directory: 100,000 entries take ~1.8 s of stat calls (64 at a time) and ~10 MB here. Beyond this the listing
 * says it read only part of the directory.
 */
export const MAX_LISTING_SCAN = 100_000;

/** Entries described at once: enough stat calls in flight to keep the thread pool busy (3x faster than one at a time). */
const STAT_BATCH = 64;

/**
 * What a listing may show about one entry. A symbolic link is shown with its target's size and
 * time only when the target is servable: inside the root, or anywhere with --follow-symlinks.
 * Links that leave the root (403 when requested) and dangling links (404) are not shown, so the
 * listing reveals nothing about files outside the root.
 * @returns the entry, or null to leave it out
 */
async function describeEntry(
  base: string,
  entry: Deno.DirEntry,
  followSymlinks: boolean,
  inside: (real: string) => boolean,
): Promise<DirEntry | null> {
  const path = `${base}/${entry.name}`;
  try {
    if (entry.isSymlink && !followSymlinks && !inside(await Deno.realPath(path))) return null;
    const st = entry.isSymlink ? await Deno.stat(path) : await Deno.lstat(path);
    return {
      name: entry.name,
      isDirectory: st.isDirectory,
      size: st.size,
      mtimeMs: st.mtime?.getTime() ?? 0,
    };
  } catch {
    // A dangling link, or an entry removed since readDir saw it: nothing to serve there.
    return null;
  }
}

/**
 * The static server's view of a served directory: every open is contained beneath it.
 * @param dir the directory given by --root
 * @param followSymlinks let symbolic links point outside the root
 * @param listing whether directories will be listed (the root must then be readable)
 * @returns the operations and the root descriptor's owner (dispose it at shutdown)
 * @throws {SyscallError} when the directory cannot be opened
 */
export function createStaticFs(
  dir: string,
  followSymlinks: boolean,
  listing: boolean,
): StaticFs & Disposable {
  const root = openRoot(dir, listing);
  const realRoot = Deno.realPathSync(dir);
  const info: FileStat = { dev: 0, size: 0, mtimeMs: 0, ino: 0, isFile: false, isDirectory: false };
  if (statFd(root.fd, info) === 0 && !info.isDirectory) {
    root[Symbol.dispose]();
    throw new SyscallError("open", ENOTDIR, `Cannot serve ${dir}`, { path: dir });
  }
  return {
    open(relPath: string): number {
      const fd = openBeneath(root.fd, relPath, followSymlinks);
      if (fd >= 0 && !followSymlinks && needsPathContainmentCheck()) {
        // No openat2 on this kernel: resolve the path and check it stays inside the root.
        let real: string;
        try {
          real = Deno.realPathSync(`${realRoot}/${relPath}`);
        } catch {
          real = "";
        }
        if (real !== realRoot && !real.startsWith(realRoot + "/")) {
          closeFd(fd);
          return -EXDEV;
        }
      }
      return fd;
    },
    stat: statFd,
    readWhole,
    close: closeFd,
    async readDir(relPath: string) {
      const base = relPath ? `${realRoot}/${relPath}` : realRoot;
      const inside = (real: string) => real === realRoot || real.startsWith(realRoot + "/");
      // Deno reads directories by path, outside openat2's containment: resolve the path again
      // so a directory swapped for a link since it was opened cannot list what lies outside.
      if (!followSymlinks && !inside(await Deno.realPath(base))) throw new Deno.errors.PermissionDenied();
      const entries: DirEntry[] = [];
      let truncated = false, seen = 0;
      let batch: Deno.DirEntry[] = [];
      const describeBatch = async () => {
        const described = await Promise.all(batch.map((e) => describeEntry(base, e, followSymlinks, inside)));
        for (const d of described) if (d) entries.push(d);
        batch = [];
      };
      for await (const entry of Deno.readDir(base)) {
        if (seen === MAX_LISTING_SCAN) {
          truncated = true;
          break;
        }
        seen++;
        batch.push(entry);
        if (batch.length === STAT_BATCH) await describeBatch();
      }
      await describeBatch();
      return { entries, truncated };
    },
    [Symbol.dispose]: () => root[Symbol.dispose](),
  };
}
