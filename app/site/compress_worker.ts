// The compression worker's side: whole files in, compressed copies out, one at a time. node:zlib
// compresses on the calling thread even through its callback API in Deno 2.9.6 (measured: a
// 2.4 MB brotli call held the event loop for 2.8 s), so this runs on a Worker, never the reactor.

import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from "node:zlib";

/** A request from app/site/compressor.ts. */
export interface CompressRequest {
  id: number;
  coding: "br" | "zstd" | "gzip";
  level: number;
  data: Uint8Array;
  text: boolean;
}

/** The answer: the copy, or why there is none. */
export type CompressReply = { id: number; data: Uint8Array } | { id: number; error: string };

function compress({ coding, level, data, text }: CompressRequest): Uint8Array {
  switch (coding) {
    case "br":
      return brotliCompressSync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: level,
          [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      });
    case "zstd":
      return zstdCompressSync(data, {
        params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_contentSizeFlag]: 1 },
      });
    case "gzip":
      return gzipSync(data, { level });
  }
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CompressRequest>) => void) | null;
  postMessage(message: CompressReply, transfer?: Transferable[]): void;
};

scope.onmessage = ({ data: request }) => {
  try {
    const out = compress(request);
    // A Buffer may be a view into a larger pooled ArrayBuffer: send exactly its bytes, moved.
    const copy = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
      ? new Uint8Array(out.buffer as ArrayBuffer)
      : new Uint8Array(out);
    scope.postMessage({ id: request.id, data: copy }, [copy.buffer]);
  } catch (e) {
    scope.postMessage({ id: request.id, error: e instanceof Error ? e.message : String(e) });
  }
};
