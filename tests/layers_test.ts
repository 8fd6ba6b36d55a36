// The layers show in the imports: ffi/ imports nothing of ours, loop/ only ffi/, http/ only itself
// (it sees sockets through Transport and timers through Deadline), each protocol (http/h1/, and
// the others as they come) only the protocol-neutral http/, the application layer all of those;
// only main.ts imports the CLI, and the server never the operator pages. The library (mod.ts)
// loads neither, and no flag name is spoken below the application. And the rule that defines
// rawserve: its network path is our own system calls, never Deno's or Node's networking.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const LAYERS = ["ffi", "loop", "http", "app"] as const;
/** The protocols, each a folder of http/ that only the application may import. */
const PROTOCOLS = ["http/h1", "http/h2", "http/ws"] as const;
type Layer =
  | typeof LAYERS[number]
  | typeof PROTOCOLS[number]
  | "app/cli"
  | "app/operator"
  | "root";

const ENGINE: readonly Layer[] = ["ffi", "loop", "http", ...PROTOCOLS];

/** What each layer may import from the project (besides itself). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  ffi: [],
  loop: ["ffi"],
  http: [],
  "http/h1": ["http"],
  "http/h2": ["http"],
  "http/ws": ["http"],
  // The server, transports, site adapters and web bridge: never the CLI, never the operator pages.
  app: ENGINE,
  "app/operator": [...ENGINE, "app"],
  "app/cli": [...ENGINE, "app", "app/operator"],
  root: [...ENGINE, "app", "app/operator", "app/cli"],
};

/** Every source file of the server: the layers' folders and the root modules. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) walk(`${path}/`);
      else if (path.endsWith(".ts")) files.push(path);
    }
  };
  for (const layer of LAYERS) walk(`${layer}/`);
  for (const root of ["main.ts", "mod.ts"]) {
    try {
      Deno.statSync(new URL(root, ROOT));
      files.push(root);
    } catch {
      // not there (yet)
    }
  }
  return files;
}

function layerOf(path: string): Layer {
  const [top, second] = path.split("/");
  const sub = `${top}/${second}`;
  if ((PROTOCOLS as readonly string[]).includes(sub) || sub === "app/cli" || sub === "app/operator") {
    return sub as Layer;
  }
  return (LAYERS as readonly string[]).includes(top!) ? top as Layer : "root";
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  const pattern =
    /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) specifiers.push(m[1] ?? m[2] ?? m[3]!);
  return specifiers;
}

Deno.test("imports point down the layers: ffi/ nothing of ours, loop/ only ffi/, http/ only itself, protocols only http/, the CLI only from main.ts, the operator pages never from the server", () => {
  const files = sourceFiles();
  assert.ok(files.length > 20, `found the sources (${files.length})`);
  const violations: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const specifier of importsOf(Deno.readTextFileSync(new URL(file, ROOT)))) {
      if (!specifier.startsWith(".")) continue; // node: built-ins (checked below) and npm:
      const target = new URL(specifier, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length);
      const to = layerOf(target);
      if (to !== from && !ALLOWED[from].includes(to)) violations.push(`${file} imports ${target}`);
      if (to === "app/cli" && from === "root" && file !== "main.ts") {
        violations.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("the import scan sees every form of import it must judge", () => {
  const sample = `import { a } from "../ffi/libc.ts";\nimport type { B } from "./b.ts";\n` +
    `export { c } from "../loop/c.ts";\nconst d = await import("../app/d.ts");\nimport "./side.ts";`;
  assert.deepEqual(importsOf(sample), [
    "../ffi/libc.ts",
    "./b.ts",
    "../loop/c.ts",
    "../app/d.ts",
    "./side.ts",
  ]);
});

/** A source's code without its comments, which may name what the code must not call. */
function codeOf(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1");
}

const FORBIDDEN_NETWORKING =
  /Deno\.(listen|listenTls|serve|connect|connectTls|startTls)\b|["']node:(net|http|https|http2|tls)["']/;

Deno.test("the server's network path uses no Deno or Node networking", () => {
  const offenders = sourceFiles().filter((file) =>
    FORBIDDEN_NETWORKING.test(codeOf(Deno.readTextFileSync(new URL(file, ROOT))))
  );
  assert.deepEqual(offenders, []);
});

Deno.test("the networking scan ignores comments and still sees code", () => {
  assert.ok(
    !FORBIDDEN_NETWORKING.test(codeOf("// as Deno.serve does\n/** like Deno.listen */\nconst a = 1;")),
  );
  assert.ok(FORBIDDEN_NETWORKING.test(codeOf('const u = "http://x"; Deno.serve(h); // ok')));
  assert.ok(FORBIDDEN_NETWORKING.test(codeOf('import net from "node:net";')));
});

/** The specifiers a file loads at start: static imports and re-exports, not types or import(). */
function staticImportsOf(text: string): string[] {
  const specifiers: string[] = [];
  const pattern =
    /^(?:import|export)\s+(?!type\s)[^'"]*?from\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) specifiers.push(m[1] ?? m[2]!);
  return specifiers;
}

/** Every module loaded before `root` runs (its static import graph; main.ts: the CLI's). */
function startupGraph(root = "main.ts"): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.endsWith(".ts")) return; // node: built-ins are leaves
    for (const specifier of staticImportsOf(Deno.readTextFileSync(new URL(file, ROOT)))) {
      visit(
        specifier.startsWith(".")
          ? new URL(specifier, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length)
          : specifier,
      );
    }
  };
  visit(root);
  return seen;
}

Deno.test("the CLI starts without what only some runs need (node:zlib ~18 ms, Intl ~10, the web bridge ~10)", () => {
  const graph = startupGraph();
  assert.ok(graph.has("app/server.ts") && graph.has("node:util"), "the scan follows imports");
  const late = [...graph].filter((m) =>
    m === "node:zlib" || m.startsWith("app/web/") || m.startsWith("app/transport/tls")
  );
  assert.deepEqual(late, [], "loaded by import() when needed");
  const eagerIntl = [...graph].filter((m) =>
    m.endsWith(".ts") &&
    /^(?:const|let)\s.*=\s*new Intl\./m.test(codeOf(Deno.readTextFileSync(new URL(m, ROOT))))
  );
  assert.deepEqual(eagerIntl, [], "Intl objects made at first use");
});

Deno.test("serve() loads nothing only WebSockets need (node:crypto ~30 ms, the protocol, zlib): the first upgrade does", () => {
  const graph = startupGraph("mod.ts");
  assert.ok(graph.has("app/web/serve.ts") && graph.has("app/web/websocket.ts"), "the scan follows imports");
  const late = [...graph].filter((m) =>
    m === "node:crypto" || m === "node:zlib" || m === "ffi/zlib.ts" || m === "app/web/server_websocket.ts" ||
    m === "app/web/websocket_upgrade.ts" ||
    (m.startsWith("http/ws/") && m !== "http/ws/stats.ts")
  );
  assert.deepEqual(late, [], "loaded by import() at the first request asking for a WebSocket");
});

Deno.test("the start-up scan skips type imports and import(), and sees the rest", () => {
  const sample = `import type { A } from "./a.ts";\nexport type { B } from "./b.ts";\n` +
    `const c = await import("./c.ts");\nimport { d } from "./d.ts";\nexport { e } from "./e.ts";\n` +
    `import "./f.ts";\nimport * as g from "node:zlib";`;
  assert.deepEqual(staticImportsOf(sample), ["./d.ts", "./e.ts", "./f.ts", "node:zlib"]);
});

Deno.test("the layer table places files where the layout says", () => {
  assert.equal(layerOf("http/h1/parser.ts"), "http/h1");
  assert.equal(layerOf("http/static/listing.ts"), "http");
  assert.equal(layerOf("app/cli/run.ts"), "app/cli");
  assert.equal(layerOf("app/operator/status_page.ts"), "app/operator");
  assert.equal(layerOf("app/server.ts"), "app");
  assert.equal(layerOf("mod.ts"), "root");
  assert.ok(!ALLOWED.app.includes("app/cli") && !ALLOWED.app.includes("app/operator"));
  assert.ok(!ALLOWED.http.includes("http/h1"), "the static site does not know which protocol carries it");
});

/** The project's modules in a module's whole graph, as Deno resolves it (`deno info --json`). */
async function moduleGraph(entry: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: { specifier: string }[] };
  return info.modules
    .map((m) => m.specifier)
    .filter((s) => s.startsWith(ROOT.href))
    .map((s) => s.slice(ROOT.href.length));
}

Deno.test("the library's module graph (mod.ts) holds no CLI module and no operator page", async () => {
  const graph = await moduleGraph("mod.ts");
  assert.ok(graph.includes("app/server.ts") && graph.includes("app/web/serve.ts"), "the scan sees the graph");
  assert.deepEqual(graph.filter((m) => m.startsWith("app/cli/") || m.startsWith("app/operator/")), []);
});

Deno.test("the server's module graph holds no operator page", async () => {
  const graph = await moduleGraph("app/server.ts");
  assert.ok(graph.includes("http/h1/connection.ts"), "the scan sees the graph");
  assert.deepEqual(graph.filter((m) => m.startsWith("app/operator/") || m.startsWith("app/cli/")), []);
});

/** The string literals of a source (quotes and template text), comments removed. */
function stringsOf(text: string): string[] {
  return [...codeOf(text).matchAll(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g)].map((m) =>
    m[0]
  );
}

/** A flag name as the CLI spells one: two dashes and a letter (a CSS `var(--ink)` in a page is not one). */
const FLAG = /(?:^|[\s`"']|(?<!var)\()--[a-z]/;

Deno.test("no flag name in a string below the application (ffi/, loop/, http/): the caller words hints", () => {
  const offenders: string[] = [];
  for (const file of sourceFiles()) {
    if (!/^(ffi|loop|http)\//.test(file)) continue;
    for (const literal of stringsOf(Deno.readTextFileSync(new URL(file, ROOT)))) {
      if (FLAG.test(literal)) offenders.push(`${file}: ${literal}`);
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("the flag scan sees flags in strings and templates, not in comments or arithmetic", () => {
  const sample =
    'const a = "use --port";\n// see --root\nconst b = `try --host ${x}`;\nlet c = i--;\nconst d = "a-b";\n' +
    'const e = "a{color:var(--ink)}";\nconst f = "(--spa)";';
  const found = stringsOf(sample).filter((l) => FLAG.test(l));
  assert.deepEqual(found, ['"use --port"', "`try --host ${x}`", '"(--spa)"']);
});
