// Small helpers the benchmark's modules share: timers, progress lines, tools on PATH, free ports.

export const decoder = new TextDecoder();
export const encoder = new TextEncoder();

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or `fallback` once `ms` have passed (the timer is cleared either way). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((r) => timer = setTimeout(() => r(fallback), ms))]);
  } finally {
    clearTimeout(timer);
  }
}

/** An error's message, or the thrown value as text. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A progress line on stderr. */
export function progress(line: string): void {
  console.error(`bench: ${line}`); // stderr, so that --json output stays clean
}

/** Whether `program` is on PATH. */
export function onPath(program: string): boolean {
  const probe = new Deno.Command("sh", {
    args: ["-c", 'command -v "$1"', "sh", program],
    stdout: "null",
    stderr: "null",
  });
  return probe.outputSync().success;
}

/** What `program args` prints (stdout, then stderr), trimmed; "" when it cannot run. */
export function commandOutput(program: string, args: string[]): string {
  try {
    const out = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).outputSync();
    return (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim();
  } catch {
    return "";
  }
}

/** A port the OS considers free right now (bind to 0, read it back, close). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
