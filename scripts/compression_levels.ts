// What each compression level costs and saves on a real site: every file of a compressible type
// beneath DIR is compressed at each level of br, zstd and gzip (node:zlib, on this thread, as
// rawserve's compression worker does), and the totals are printed as a table, with the bytes
// small files would save (for the lower size limit). The measurements behind app/site/compressor.ts.
// Usage: deno run -A scripts/compression_levels.ts DIR [--max-bytes N] [--repeat N]

import { parseArgs } from "node:util";
import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from "node:zlib";
import { isCompressible, isText, mediaTypeFor } from "../http/static/media_types.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { "max-bytes": { type: "string", default: String(8 * 1024 * 1024) }, repeat: { type: "string" } },
});
const dir = positionals[0];
if (!dir) {
  console.error("Usage: deno run -A scripts/compression_levels.ts DIR [--max-bytes N] [--repeat N]");
  Deno.exit(2);
}
const MAX_BYTES = Number(values["max-bytes"]);
const REPEAT = Number(values.repeat ?? 1);

interface Sample {
  path: string;
  bytes: Uint8Array;
  text: boolean;
}

function collect(root: string): Sample[] {
  const out: Sample[] = [];
  const walk = (path: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) walk(full);
      else if (entry.isFile) {
        const type = mediaTypeFor(entry.name);
        if (!isCompressible(type)) continue;
        const bytes = Deno.readFileSync(full);
        if (bytes.length <= MAX_BYTES) out.push({ path: full.slice(root.length), bytes, text: isText(type) });
      }
    }
  };
  walk(root);
  return out;
}

type Compress = (sample: Sample) => Uint8Array;

function brotli(quality: number): Compress {
  return ({ bytes, text }) =>
    brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: quality,
        [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
}

function zstd(level: number): Compress {
  return ({ bytes }) =>
    zstdCompressSync(bytes, {
      params: {
        [constants.ZSTD_c_compressionLevel]: level,
        [constants.ZSTD_c_contentSizeFlag]: 1,
      },
    });
}

function gzip(level: number): Compress {
  return ({ bytes }) => gzipSync(bytes, { level });
}

const CONFIGS: [string, Compress][] = [
  ...[4, 5, 6, 7, 9, 11].map((q) => [`br ${q}`, brotli(q)] as [string, Compress]),
  ...[3, 6, 9, 12, 19].map((l) => [`zstd ${l}`, zstd(l)] as [string, Compress]),
  ...[1, 6, 9].map((l) => [`gzip ${l}`, gzip(l)] as [string, Compress]),
];

const samples = collect(dir);
const total = samples.reduce((n, s) => n + s.bytes.length, 0);
const largest = samples.reduce((a, s) => (s.bytes.length > a.bytes.length ? s : a), samples[0]!);
console.log(
  `${samples.length} compressible files, ${total} bytes (largest ${largest.path}, ${largest.bytes.length} bytes)\n`,
);
console.log("| level | bytes out | of the input | ms in all | ms per MiB | ms for the largest |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, compress] of CONFIGS) {
  let out = 0, ms = 0, largestMs = 0;
  for (const sample of samples) {
    compress(sample); // warm up: the first call of a level allocates its tables
    const started = performance.now();
    let n = 0;
    for (let i = 0; i < REPEAT; i++) n = compress(sample).length;
    const each = (performance.now() - started) / REPEAT;
    out += n;
    ms += each;
    if (sample === largest) largestMs = each;
  }
  console.log(
    `| ${name} | ${out} | ${(100 * out / total).toFixed(1)}% | ${ms.toFixed(0)} | ${
      (ms / (total / 2 ** 20)).toFixed(1)
    } | ${largestMs.toFixed(1)} |`,
  );
}

console.log(
  "\nSmall files, br 5: what compressing them would save (bytes of body, before ~50 bytes of fields)",
);
console.log("| below | files | bytes | saved | saved per file |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
for (const limit of [256, 512, 1024, 2048, 4096]) {
  const small = samples.filter((s) => s.bytes.length < limit);
  const bytes = small.reduce((n, s) => n + s.bytes.length, 0);
  const saved = small.reduce((n, s) => n + s.bytes.length - brotli(5)(s).length, 0);
  console.log(
    `| ${limit} | ${small.length} | ${bytes} | ${saved} | ${
      small.length ? (saved / small.length).toFixed(0) : "-"
    } |`,
  );
}
