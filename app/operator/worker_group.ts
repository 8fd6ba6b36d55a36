// One metrics view for a --workers group. A scrape of the shared port reaches one worker (the
// kernel spreads connections over the SO_REUSEPORT sockets), so each worker publishes its
// snapshot (no connection rows) as a file in a directory its supervisor made, every
// PUBLISH_INTERVAL_MS and whenever it answers a page; the worker a scrape reaches reads its
// siblings' latest files and answers for all. A file is written whole and renamed into place,
// so a reader never sees half of one; only the group's own names are read (never a listing).

import type { StatusSnapshot } from "./server_status.ts";

/** The environment variables a supervisor gives its workers: the directory, and how many they are. */
export const GROUP_DIR_ENV = "RAWSERVE_GROUP_DIR";
export const GROUP_SIZE_ENV = "RAWSERVE_GROUP_SIZE";
/**
 * How often a worker publishes its snapshot: a sibling's numbers are at most this old in
 * another worker's answer. Prometheus scrapes every 15 s or more, and a snapshot costs a stat of
 * /proc/self/fd and two small /proc reads, so once a second is both fresh enough and cheap.
 */
export const PUBLISH_INTERVAL_MS = 1000;
/** A snapshot file is a few KiB; a larger one is not ours, and is skipped unread. */
const MAX_SNAPSHOT_BYTES = 1 << 20;
/** A group has as many members as --workers allows at most (flags.ts caps it far below this). */
const MAX_GROUP_SIZE = 1024;

/** One worker's latest snapshot, and how old it is. */
export interface GroupMember {
  index: number;
  snapshot: StatusSnapshot;
  /** Seconds since the worker published it (0 for the worker answering). */
  ageS: number;
}

/** What the status page lists of the other workers. */
export interface GroupSummary {
  index: number;
  pid: number;
  ageS: number;
  requests: number;
  open: number;
}

/** This worker's place in its group, and the files the group shares. */
export class WorkerGroupView {
  readonly dir: string;
  readonly size: number;
  readonly index: number;

  /**
   * @param dir the directory the supervisor made (mode 0700, removed when the group stops)
   * @param size how many workers the group has
   * @param index this worker's
   */
  constructor(dir: string, size: number, index: number) {
    this.dir = dir;
    this.size = size;
    this.index = index;
  }

  /**
   * The view the supervisor's environment describes, or null outside a group.
   * @param index this worker's index
   */
  static fromEnv(index: number): WorkerGroupView | null {
    const dir = Deno.env.get(GROUP_DIR_ENV);
    const size = Number(Deno.env.get(GROUP_SIZE_ENV));
    if (!dir || !Number.isInteger(size) || size < 1 || size > MAX_GROUP_SIZE) return null;
    if (!Number.isInteger(index) || index < 0 || index >= size) return null;
    return new WorkerGroupView(dir, size, index);
  }

  #path(index: number): string {
    return `${this.dir}/worker-${index}.json`;
  }

  /**
   * Writes this worker's snapshot for its siblings. A failure (the directory removed as the
   * group stops, a full disk) costs the siblings freshness only, so it is not thrown.
   * @returns whether the file was replaced
   */
  publish(snapshot: StatusSnapshot): boolean {
    const path = this.#path(this.index);
    const text = JSON.stringify({ publishedAtMs: Date.now(), snapshot });
    try {
      Deno.writeTextFileSync(`${path}.tmp`, text, { mode: 0o600 });
      Deno.renameSync(`${path}.tmp`, path);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Every member's snapshot, by index: this worker's own (fresh, and published as well) and the
   * latest each sibling published. A sibling that has published nothing readable yet (it is
   * starting) is left out.
   * @param own this worker's snapshot, taken now
   */
  members(own: StatusSnapshot): GroupMember[] {
    this.publish(own);
    const now = Date.now();
    const out: GroupMember[] = [];
    for (let i = 0; i < this.size; i++) {
      if (i === this.index) {
        out.push({ index: i, snapshot: own, ageS: 0 });
        continue;
      }
      const read = this.#read(i);
      if (read) {
        out.push({ index: i, snapshot: read.snapshot, ageS: Math.max(0, now - read.publishedAtMs) / 1000 });
      }
    }
    return out;
  }

  #read(index: number): { publishedAtMs: number; snapshot: StatusSnapshot } | null {
    try {
      const path = this.#path(index);
      if (Deno.statSync(path).size > MAX_SNAPSHOT_BYTES) return null;
      const parsed = JSON.parse(Deno.readTextFileSync(path));
      const snapshot = parsed?.snapshot as StatusSnapshot | undefined;
      // Only a file this group's worker `index` wrote: the shape the renderers read, and its index.
      if (
        typeof parsed.publishedAtMs !== "number" || snapshot?.worker?.index !== index ||
        typeof snapshot.counters !== "object" || typeof snapshot.responseSeconds !== "object"
      ) return null;
      return { publishedAtMs: parsed.publishedAtMs, snapshot };
    } catch {
      return null; // not published yet, or being replaced on a file system without atomic rename
    }
  }
}

/** The members as the status page lists them. */
export function summarizeGroup(members: readonly GroupMember[]): GroupSummary[] {
  return members.map(({ index, snapshot, ageS }) => ({
    index,
    pid: snapshot.process.pid,
    ageS: Math.round(ageS * 10) / 10,
    requests: snapshot.counters.requests,
    open: snapshot.counters.open,
  }));
}
