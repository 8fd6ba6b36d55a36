// Reading /proc through our own system calls. Deno grants /proc only with --allow-all (with
// --allow-read, Deno.readTextFileSync("/proc/net/sockstat") throws NotCapable: measured on
// Deno 2.9.6), and rawserve runs with the permissions `deno task start` grants. /proc files are
// generated on read and never block; both functions are for the status page, not hot paths.

import { libc, O_CLOEXEC, O_DIRECTORY, O_RDONLY, STAT } from "./libc.ts";

const { close, fstat, getdents64, open, read } = libc.symbols;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
/** Enough for any /proc text rawserve reads in one or a few read(2) calls, and many dirents. */
const BUF = new Uint8Array(64 * 1024);

function openPath(path: string, flags: number): number {
  return open(ENCODER.encode(`${path}\0`), flags | O_RDONLY | O_CLOEXEC, 0);
}

/**
 * The whole text of a /proc file (their sizes read as 0, so it reads until end of file).
 * @returns the text, or null if it cannot be opened or read
 */
export function readProcText(path: string, limit = 1 << 20): string | null {
  const fd = openPath(path, 0);
  if (fd < 0) return null;
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const n = read(fd, BUF, BUF.length);
      if (n < 0) return null;
      if (n === 0 || total >= limit) break;
      chunks.push(BUF.slice(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    return DECODER.decode(all);
  } finally {
    close(fd);
  }
}

/**
 * Entries in a directory, "." and ".." left out, read with getdents64(2). For /proc/self/fd
 * the count includes the descriptor this function holds while reading.
 * @returns the count, or -1 if the directory cannot be read
 */
export function countDirEntries(path: string): number {
  const fd = openPath(path, O_DIRECTORY);
  if (fd < 0) return -1;
  try {
    const view = new DataView(BUF.buffer);
    let count = 0;
    for (;;) {
      const n = getdents64(fd, BUF, BUF.length);
      if (n < 0) return -1;
      if (n === 0) return count;
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      for (let off = 0; off < n;) {
        const reclen = view.getUint16(off + 16, true);
        const dot = BUF[off + 19] === 46;
        const name1 = BUF[off + 20];
        const isDots = dot && (name1 === 0 || (name1 === 46 && BUF[off + 21] === 0));
        if (!isDots) count++;
        off += reclen;
      }
    }
  } finally {
    close(fd);
  }
}

const STAT_BUF = new Uint8Array(STAT.SIZE);
const STAT_VIEW = new DataView(STAT_BUF.buffer);

/**
 * This process's open descriptors. Since Linux 6.2, stat() of /proc/PID/fd reports the count as
 * its size (fs/proc/fd.c proc_fd_getattr, a weight of the open-fd bitmap): one call whatever the
 * count, where listing the directory took 8.5 ms at 10,000 descriptors (measured here). Older
 * kernels report 0, and the entries are counted instead.
 * @returns the count, not including the descriptor used to ask, or -1 if /proc cannot be read
 */
export function countOpenFds(): number {
  const fd = openPath("/proc/self/fd", O_DIRECTORY);
  if (fd < 0) return -1;
  let size = 0;
  try {
    if (fstat(fd, STAT_BUF) === 0) size = Number(STAT_VIEW.getBigInt64(STAT.FILE_SIZE, true));
  } finally {
    close(fd);
  }
  if (size > 0) return size - 1;
  const entries = countDirEntries("/proc/self/fd");
  return entries < 0 ? -1 : entries - 1;
}
