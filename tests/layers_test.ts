// The layers show in the imports: ffi/ imports nothing of ours, loop/ only ffi/, http/ only itself
// (it sees sockets through Transport and timers through Deadline), and the application layer
// (app/, main.ts, mod.ts) may use all. And the rule that defines rawserve: its network path is
// our own system calls, never Deno's or Node's networking.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const LAYERS = ["ffi", "loop", "http", "app"] as const;
type Layer = typeof LAYERS[number] | "root";

/** What each layer may import from the project (besides itself). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  ffi: [],
  loop: ["ffi"],
  http: [],
  app: ["ffi", "loop", "http"],
  root: ["ffi", "loop", "http", "app"],
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
  const top = path.split("/")[0]!;
  return (LAYERS as readonly string[]).includes(top) ? top as Layer : "root";
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  const pattern =
    /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) specifiers.push(m[1] ?? m[2] ?? m[3]!);
  return specifiers;
}

Deno.test("imports point down the layers: ffi/ nothing of ours, loop/ only ffi/, http/ only itself", () => {
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

/** Every module the CLI loads before it runs (main.ts's static import graph). */
function startupGraph(): Set<string> {
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
  visit("main.ts");
  return seen;
}

Deno.test("the CLI starts without what only some runs need (node:zlib ~18 ms, Intl ~10, the web bridge ~10)", () => {
  const graph = startupGraph();
  assert.ok(graph.has("app/server.ts") && graph.has("node:util"), "the scan follows imports");
  const late = [...graph].filter((m) =>
    m === "node:zlib" || m.startsWith("app/web/") || m.startsWith("app/tls")
  );
  assert.deepEqual(late, [], "loaded by import() when needed");
  const eagerIntl = [...graph].filter((m) =>
    m.endsWith(".ts") &&
    /^(?:const|let)\s.*=\s*new Intl\./m.test(codeOf(Deno.readTextFileSync(new URL(m, ROOT))))
  );
  assert.deepEqual(eagerIntl, [], "Intl objects made at first use");
});

Deno.test("the start-up scan skips type imports and import(), and sees the rest", () => {
  const sample = `import type { A } from "./a.ts";\nexport type { B } from "./b.ts";\n` +
    `const c = await import("./c.ts");\nimport { d } from "./d.ts";\nexport { e } from "./e.ts";\n` +
    `import "./f.ts";\nimport * as g from "node:zlib";`;
  assert.deepEqual(staticImportsOf(sample), ["./d.ts", "./e.ts", "./f.ts", "node:zlib"]);
});
