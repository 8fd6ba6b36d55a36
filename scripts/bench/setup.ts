// A run's set-up and tear-down: the tools it needs, the temporary directory with its fixtures,
// floor and certificate; and at the end (or on an interrupt) every process stopped, the directory gone.

import { EMBEDDED_PAGE } from "../../app/site/embedded_page.ts";
import { makeCertificate } from "./certificates.ts";
import type { Bench } from "./context.ts";
import { buildFloor, writeFixtures } from "./fixtures.ts";
import type { Options } from "./options.ts";
import { LOAD_SCENARIOS } from "./scenarios.ts";
import { onPath, progress } from "./util.ts";
import { clockTicksPerSecond, readOr } from "../measure.ts";

function checkTools(opts: Options): { nginx: boolean; h2load: boolean; pin: boolean } {
  if (!onPath("wrk")) {
    console.error("bench: wrk is not installed (nginx is optional). Install them with:");
    console.error("apt-get install -y wrk nginx-light");
    Deno.exit(1);
  }
  const nginx = opts.servers.includes("nginx") && onPath("nginx");
  if (opts.servers.includes("nginx") && !nginx) {
    progress("nginx not found; its rows are skipped. To include them:");
    console.error("apt-get install -y wrk nginx-light");
  }
  const h2load = onPath("h2load");
  if (!h2load && LOAD_SCENARIOS.some((s) => s.h2load && opts.only.includes(s.name))) {
    progress("h2load not found; the h2 and https-page rows are skipped (apt-get install -y nghttp2-client)");
  }
  const pin = opts.pin && onPath("taskset");
  if (opts.pin && !pin) progress("taskset not found; servers and wrk are not pinned");
  if (opts.strace && !onPath("strace")) {
    progress("strace not found; --strace ignored (apt-get install -y strace)");
    opts.strace = false;
  }
  return { nginx, h2load, pin };
}

/** Checks the tools, writes the fixtures and builds what the selected servers need. */
export function setUp(opts: Options): Bench {
  const repo = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
  if (opts.servers.includes("rawserve") && !readOr(`${repo}/main.ts`)) {
    throw new Error(
      `${repo}/main.ts not found: rawserve cannot start (bench the others with --servers deno,nginx)`,
    );
  }
  const tools = checkTools(opts);
  const page = EMBEDDED_PAGE;
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-bench-" });
  const { site, lua } = writeFixtures(dir, page, repo);
  const floor = opts.servers.includes("floor") ? buildFloor(repo, dir) : null;
  const clkTck = clockTicksPerSecond();
  const wantsTls = LOAD_SCENARIOS.some((sc) => sc.tls && opts.only.includes(sc.name));
  const tls = wantsTls ? makeCertificate(dir) : null;
  const bench: Bench = {
    opts,
    repo,
    dir,
    site,
    lua,
    page,
    pin: tools.pin,
    clkTck,
    nginx: tools.nginx,
    h2load: tools.h2load,
    floor,
    tls,
    live: new Set(),
    tools: new Set(),
    notes: [],
    failures: 0,
    interrupted: false,
  };
  if (wantsTls && !tls) {
    bench.notes.push(
      "HTTPS scenarios: no certificate (no openssl CLI; apt-get install -y openssl): rows missing",
    );
  }
  if (opts.servers.includes("floor") && !floor) {
    bench.notes.push("C floor: not built (no cc on PATH; apt-get install -y gcc): its rows are missing");
  }
  if (opts.duration < 3) {
    progress(`--duration ${opts.duration}: CPU µs/req is coarse below 3 s at ${clkTck} Hz`);
  }
  return bench;
}

/** Stops every tool and server still running and removes the temporary directory. */
export async function tearDown(bench: Bench): Promise<void> {
  bench.tls?.client.close();
  for (const tool of bench.tools) {
    try {
      tool.kill("SIGTERM");
    } catch {
      // exited meanwhile
    }
  }
  for (const server of [...bench.live]) await server.stop();
  try {
    Deno.removeSync(bench.dir, { recursive: true });
  } catch {
    // already gone
  }
}
