// Headless Chromium for the browser tests: Debian's (never one a tool downloads), installed with
// apt-get when missing. A test that cannot have it is skipped with the reason in its name.

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Installs Chromium when it is missing. @returns why the browser cannot be had, or null */
export async function chromiumMissing(path = CHROMIUM): Promise<string | null> {
  try {
    Deno.statSync(path);
    return null;
  } catch {
    // not installed yet
  }
  try {
    const out = await new Deno.Command("apt-get", {
      args: ["install", "-y", "chromium"],
      stdin: "null",
      signal: AbortSignal.timeout(300_000),
    }).output();
    if (out.code === 0) return null;
    const last = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    return `apt-get install -y chromium failed: ${last}`;
  } catch (e) {
    return `apt-get install -y chromium failed: ${(e as Error).message}`;
  }
}

/** The screenshot script's browser and server helpers, and why they cannot be used (null: they can). */
export async function loadScreenshots(): Promise<
  { shots: typeof import("../../scripts/screenshots.ts") | null; skip: string | null }
> {
  try {
    const shots = await import("../../scripts/screenshots.ts");
    return { shots, skip: await chromiumMissing(shots.CHROMIUM) };
  } catch (e) {
    return { shots: null, skip: `playwright-core cannot be loaded: ${(e as Error).message.split("\n")[0]}` };
  }
}
