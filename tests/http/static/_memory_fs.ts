// Helpers for the static handler's unit tests: a StaticFs over a map of paths (which checks that
// every descriptor is closed once), requests as the parser would make them, and field lookup.

import assert from "node:assert/strict";
import type { FileInfo, StaticFs } from "../../../http/static/types.ts";
import { RequestHead } from "../../../http/request_head.ts";
import type { HttpRequest, HttpResponse } from "../../../http/types.ts";

export interface MemFile {
  data: Uint8Array;
  mtimeMs: number;
  ino: number;
}

/** A StaticFs over a map of paths; directories are the prefixes of file paths. */
export function memoryFs(files: Record<string, MemFile>): StaticFs & { openCount: number; closes: number } {
  const fds = new Map<number, string>();
  let next = 100;
  const state = {
    openCount: 0,
    closes: 0,
  };
  const isDir = (p: string) => p === "" || Object.keys(files).some((f) => f.startsWith(p + "/"));
  return Object.assign(state, {
    open(rel: string): number {
      if (!(rel in files) && !isDir(rel)) return -2; // ENOENT
      if (rel === "secret") return -13; // EACCES
      if (rel === "escape") return -18; // EXDEV: a link leaving the root
      state.openCount++;
      fds.set(next, rel);
      return next++;
    },
    stat(fd: number, out: FileInfo): number {
      const rel = fds.get(fd)!;
      const f = files[rel];
      out.size = f?.data.length ?? 4096;
      out.mtimeMs = f?.mtimeMs ?? 0;
      out.ino = f?.ino ?? 1;
      out.isFile = f !== undefined;
      out.isDirectory = f === undefined;
      return 0;
    },
    readWhole(fd: number, size: number): Uint8Array {
      return files[fds.get(fd)!]!.data.slice(0, size);
    },
    close(fd: number): void {
      assert.ok(fds.delete(fd), `fd ${fd} closed twice or never opened`);
      state.openCount--;
      state.closes++;
    },
    readDir(rel: string) {
      const prefix = rel ? rel + "/" : "";
      const names = new Set<string>();
      for (const f of Object.keys(files)) {
        if (f.startsWith(prefix)) names.add(f.slice(prefix.length).split("/")[0]!);
      }
      return Promise.resolve({
        entries: [...names].map((name) => ({
          name,
          isDirectory: isDir(prefix + name),
          size: files[prefix + name]?.data.length ?? 4096,
          mtimeMs: files[prefix + name]?.mtimeMs ?? 0,
        })),
        truncated: false,
      });
    },
  });
}

/** A request as the parser makes it: `headers` are lower-case names and values, alternating. */
export function request(
  method: string,
  path: string,
  headers: string[] = [],
): HttpRequest {
  const head = new RequestHead();
  head.method = method;
  head.target = head.path = path;
  head.headers = headers;
  return {
    head,
    body: null,
    peer: { remoteAddress: () => "127.0.0.1", remotePort: () => 40000 },
    observer: null,
  };
}

/** Every value of a field, in order (pre-encoded fields or name and value pairs). */
export function fields(response: HttpResponse, name: string): string[] {
  const h = response.headers;
  if (h instanceof Uint8Array) {
    const text = new TextDecoder().decode(h);
    return [...text.matchAll(new RegExp(`^${name}: (.*)\r$`, "gmi"))].map((m) => m[1]!);
  }
  const values: string[] = [];
  for (let i = 0; h && i < h.length; i += 2) {
    if (h[i]!.toLowerCase() === name.toLowerCase()) values.push(h[i + 1]!);
  }
  return values;
}

/** The first value of a field, or undefined. */
export function field(response: HttpResponse, name: string): string | undefined {
  return fields(response, name)[0];
}
