// What the benchmarks and the end-to-end tests measure of a process, read from /proc, and the
// median they report: one home, so that a test's "CPU time" and a benchmark's are the same figure.
// Linux only. A process's own figures cover all its threads; its descendants are added where said.

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on every Linux we run on). */
const USER_HZ_FALLBACK = 100;
let clockTicks = 0;

/**
 * The middle of `xs` (the mean of the two middle values for an even count), NaN left out.
 * @returns NaN when no number is left
 */
export function median(xs: readonly number[]): number {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A file's text, or "" when it cannot be read (a process that has exited meanwhile). */
export function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Clock ticks per second of /proc's CPU times, from `getconf CLK_TCK` (asked once). */
export function clockTicksPerSecond(): number {
  if (clockTicks) return clockTicks;
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped", stderr: "null" })
      .outputSync();
    clockTicks = Number(new TextDecoder().decode(out.stdout).trim()) || USER_HZ_FALLBACK;
  } catch {
    clockTicks = USER_HZ_FALLBACK;
  }
  return clockTicks;
}

/** The PID and its descendants (rawserve --workers children), from /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap(processTree)];
}

/**
 * A process's children (a supervisor's workers), in ascending order, from
 * /proc/PID/task/TID/children of each thread; none once it has exited.
 */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const children = readOr(`/proc/${pid}/task/${task.name}/children`).trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    }
  } catch {
    // exited meanwhile
  }
  return pids.sort((a, b) => a - b);
}

/** Whether a process is running (present and not a zombie). */
export function processAlive(pid: number): boolean {
  const stat = readOr(`/proc/${pid}/stat`);
  return stat !== "" && !/^\d+ \(.*\) Z /.test(stat);
}

/** A live process's /proc file; a descendant that has exited meanwhile reads as "". */
function procText(pid: number, root: number, file: string): string {
  const text = readOr(`/proc/${pid}/${file}`);
  if (!text && pid === root) throw new Error(`Process ${pid} has exited: no /proc/${pid}/${file}`);
  return text;
}

/**
 * utime and stime in clock ticks of the process (all its threads) and its live descendants.
 * @throws {Error} when `pid` itself has exited
 */
export function cpuTicks(pid: number): { user: number; sys: number } {
  const ticks = { user: 0, sys: 0 };
  for (const p of processTree(pid)) {
    const stat = procText(p, pid, "stat");
    // Fields after "(comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    // The last ")" ends comm, which may itself hold ") ".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks.user += Number(fields[11] ?? 0);
    ticks.sys += Number(fields[12] ?? 0);
  }
  return ticks;
}

/**
 * CPU time (user + system) in milliseconds of the process and its live descendants.
 * @throws {Error} when `pid` itself has exited
 */
export function cpuMs(pid: number): number {
  const { user, sys } = cpuTicks(pid);
  return (user + sys) * 1_000 / clockTicksPerSecond();
}

/**
 * Resident memory in KiB (VmRSS of /proc/PID/status) of the process and its live descendants.
 * @throws {Error} when `pid` itself has exited
 */
export function rssKiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    kib += Number(/VmRSS:\s+(\d+)/.exec(procText(p, pid, "status"))?.[1] ?? 0);
  }
  return kib;
}

/** Descriptors the process holds now: the entries of /proc/PID/fd. */
export function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/**
 * Busy and total ticks of one CPU since boot, from /proc/stat. irq and softirq count in the total
 * but not as busy: loopback packet processing for a benchmark's own traffic lands there (often in
 * ksoftirqd, outside the server's ticks), and it is not noise.
 */
export function cpuCoreTicks(cpu: number): { busy: number; total: number } {
  const line = readOr("/proc/stat").split("\n").find((l) => l.startsWith(`cpu${cpu} `));
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    (line?.split(/\s+/).slice(1, 9) ?? []).map(Number);
  return {
    busy: user + nice + system + steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}

/** Nanoseconds on CPU and waiting on a runqueue, summed over a process's threads (schedstat). */
export function schedNs(pid: number): { run: number; wait: number } | null {
  let run = 0;
  let wait = 0;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const [taskRun = 0, taskWait = 0] = readOr(`/proc/${pid}/task/${task.name}/schedstat`).split(" ").map(
        Number,
      );
      run += taskRun;
      wait += taskWait;
    }
  } catch {
    return null; // exited
  }
  return { run, wait };
}

/**
 * Median nanoseconds per call of `fn`: `warmUp` calls first (V8 compiles the fast path, FFI fast
 * calls included), then `rounds` timed rounds of `calls` calls each.
 */
export function nsPerCall(
  fn: () => void,
  options: { calls: number; rounds: number; warmUp: number },
): number {
  for (let i = 0; i < options.warmUp; i++) fn();
  const perCall: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < options.calls; i++) fn();
    perCall.push(((performance.now() - t0) * 1e6) / options.calls);
  }
  return median(perCall);
}
