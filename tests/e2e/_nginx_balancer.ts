// nginx (Debian's nginx-light) as the balancer for the end-to-end tests: the site configuration
// (the one docs/production.md and the README show), the whole nginx.conf a test runs around it,
// and a foreground nginx that is gone, with its temp directory, when disposed.
//
// nginx-light has no stream module (Debian ships it apart, as libnginx-mod-stream), so nginx
// cannot send the PROXY protocol here: its http proxy writes X-Forwarded-For instead, and
// rawserve takes the client from it with `--trusted-proxy unix --forwarded-field x-forwarded-for`.

/**
 * The site: an upstream of rawserve instances on Unix sockets, each out for `failTimeout` after
 * one failed connection (nginx-light's health is passive: it learns an instance is gone only
 * from a request that fails), and a proxy that retries such a request on the next instance
 * (`proxy_next_upstream error timeout`, which a GET is allowed) so the client never sees it.
 * @param listen nginx's `listen` address
 * @param sockets the instances' socket paths
 * @param failTimeout how long (nginx time, e.g. "1s") a failed instance is left out
 */
export function nginxSite(listen: string, sockets: string[], failTimeout = "1s"): string {
  return `upstream rawserve {
${sockets.map((path) => `  server unix:${path} max_fails=1 fail_timeout=${failTimeout};`).join("\n")}
}

server {
  listen ${listen};

  location / {
    proxy_pass http://rawserve;
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_next_upstream error timeout;
    proxy_connect_timeout 2s;
  }
}
`;
}

/**
 * The whole nginx.conf for a foreground nginx under `dir`: its pid file, error log and temp
 * files there, no access log of its own, and `site` in its http block. As root, the worker
 * runs as root too, to reach sockets under a private temp directory.
 */
export function nginxMain(site: string, dir: string): string {
  const user = Deno.uid() === 0 ? "user root root;\n" : "";
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/${kind};`).join("\n");
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;

events {
  worker_connections 256;
}

http {
  access_log off;
${temp}

${site.replace(/^(?=.)/gm, "  ")}}
`;
}

/** nginx in the foreground with `site`; resolves once `port` accepts. */
export async function startNginx(
  site: string,
  port: number,
): Promise<Deno.ChildProcess & AsyncDisposable & { errorLog(): string }> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/nginx.conf`, nginxMain(site, dir));
  const child = new Deno.Command("nginx", {
    // -e: the log of start-up itself, before the configuration's error_log applies.
    args: ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 100) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(`nginx did not start: ${Deno.readTextFileSync(`${dir}/error.log`)}`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return Object.assign(child, {
    errorLog: () => Deno.readTextFileSync(`${dir}/error.log`),
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGQUIT"); // nginx's graceful stop
      } catch {
        // gone
      }
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await child.status;
      clearTimeout(killer);
      await Deno.remove(dir, { recursive: true });
    },
  });
}
