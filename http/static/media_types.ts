// Content-Type by file extension: the web's common types. Text types carry charset=utf-8;
// anything unknown is application/octet-stream (RFC 9110 §8.3: the sender should know).

const UTF8 = "; charset=utf-8";

/** Extension (lower case, no dot) to media type. */
export const MEDIA_TYPES: Readonly<Record<string, string>> = {
  html: "text/html" + UTF8,
  htm: "text/html" + UTF8,
  css: "text/css" + UTF8,
  js: "text/javascript" + UTF8,
  mjs: "text/javascript" + UTF8,
  cjs: "text/javascript" + UTF8,
  json: "application/json" + UTF8,
  map: "application/json" + UTF8,
  webmanifest: "application/manifest+json" + UTF8,
  txt: "text/plain" + UTF8,
  md: "text/markdown" + UTF8,
  csv: "text/csv" + UTF8,
  xml: "application/xml" + UTF8,
  svg: "image/svg+xml" + UTF8,
  ts: "text/plain" + UTF8, // not video/mp2t: a web server's .ts files are usually TypeScript
  wasm: "application/wasm",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/vnd.microsoft.icon",
  bmp: "image/bmp",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  flac: "audio/flac",
  mp4: "video/mp4",
  webm: "video/webm",
  mov: "video/quicktime",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  zst: "application/zstd",
  tar: "application/x-tar",
  "7z": "application/x-7z-compressed",
  rtf: "application/rtf",
  epub: "application/epub+zip",
};

/**
 * Media types worth a content coding (RFC 9110 §8.4): text, and the binary formats that are not
 * compressed inside (WebAssembly, TrueType and OpenType fonts, icons, bitmaps). Images, audio,
 * video, WOFF fonts and archives already are: compressing them again saves nothing.
 */
const COMPRESSIBLE: ReadonlySet<string> = new Set([
  MEDIA_TYPES.json!,
  MEDIA_TYPES.webmanifest!,
  MEDIA_TYPES.xml!,
  MEDIA_TYPES.svg!,
  MEDIA_TYPES.wasm!,
  MEDIA_TYPES.ttf!,
  MEDIA_TYPES.otf!,
  MEDIA_TYPES.ico!,
  MEDIA_TYPES.bmp!,
  MEDIA_TYPES.rtf!,
]);

/** Whether a media type (as mediaTypeFor gives it) is worth compressing: text/*, and COMPRESSIBLE. */
export function isCompressible(type: string): boolean {
  return type.startsWith("text/") || COMPRESSIBLE.has(type);
}

/** Whether a media type is text (brotli has a mode for it). */
export function isText(type: string): boolean {
  return type.endsWith(UTF8);
}

/** The default for unknown extensions. */
export const OCTET_STREAM = "application/octet-stream";

/**
 * The media type for a file name.
 * @param name a file name or path
 * @returns e.g. `text/html; charset=utf-8`, or application/octet-stream
 */
export function mediaTypeFor(name: string): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  if (dot <= slash + 1) return OCTET_STREAM; // no extension, or a dotfile like ".env"
  return MEDIA_TYPES[name.slice(dot + 1).toLowerCase()] ?? OCTET_STREAM;
}
