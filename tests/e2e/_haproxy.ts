// HAProxy (Debian's package) for the end-to-end tests: its configuration (the README's "Running
// in production" one) and a foreground process that is gone when disposed.

/** A free loopback port (bound, read, released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * HAProxy's configuration: PROXY v2 to each server, health checks of --health that carry a
 * header too (LOCAL), every 200 ms; two failed checks (400 ms, within --drain-delay) take a
 * server out, and a check slowed by load is not a failure before 2 s.
 * @param retries connection attempts HAProxy retries (on another server: redispatch); a test
 *   gives 0 so that a refused connection shows as a failed request instead of being hidden
 */
export function haproxyConfig(front: string, servers: string[], retries = 3): string {
  return `global
  maxconn 1000

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout check 2s
  retries ${retries}
  option redispatch

frontend web
  bind ${front}
  default_backend rawserve

backend rawserve
  option httpchk GET /health
  http-check expect status 200
  default-server send-proxy-v2 check-send-proxy check inter 200ms fall 2 rise 2
${servers.map((address, i) => `  server r${i + 1} ${address}`).join("\n")}
`;
}

/** Starts HAProxy in the foreground with `config`; resolves once `port` accepts. */
export async function startHaproxy(
  config: string,
  port: number,
): Promise<Deno.ChildProcess & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", `${dir}/haproxy.cfg`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 100) {
        child.kill("SIGKILL");
        throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return Object.assign(child, {
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.output();
      await Deno.remove(dir, { recursive: true });
    },
  });
}
