// Cache-Control for what the static handler serves (RFC 9111 §5.2.2), decided once per file
// version: HTML revalidates, files an --immutable glob matches are kept for a year, and
// --cache-control sets the rest. A glob is matched against the file's path beneath the root.

/** Revalidate before every reuse (RFC 9111 §5.2.2.4): the preset for HTML and the default. */
export const REVALIDATE = "no-cache";
/**
 * Fingerprinted files never change under their name: a year (the longest lifetime RFC 2616
 * §14.21 let a server promise, and what build tools and CDNs use for such files) and
 * `immutable` (RFC 8246), so browsers do not revalidate them on reload either.
 */
export const IMMUTABLE = "public, max-age=31536000, immutable";

/** What decides Cache-Control. */
export interface CachePolicyOptions {
  /**
   * The value for every file no immutable glob matches, HTML included; null sends none;
   * undefined keeps the presets (REVALIDATE).
   */
  cacheControl?: string | null | undefined;
  /** Globs of paths beneath the root (e.g. `/assets/*`, `*.woff2`) whose files are IMMUTABLE. */
  immutable?: readonly string[] | undefined;
}

/**
 * A glob as a regular expression over a path that begins with `/`: `*` matches any run of
 * characters (slashes too, so `/assets/*` covers its subdirectories), `?` one character other
 * than `/`, and everything else itself. A glob that does not begin with `/` or `*` matches in
 * any directory (`app.*.js` matches `/js/app.1f3a.js`).
 */
export function globToRegExp(glob: string): RegExp {
  let source = glob.startsWith("/") || glob.startsWith("*") ? "^" : "^(?:.*/)?";
  for (const c of glob) {
    source += c === "*" ? ".*" : c === "?" ? "[^/]" : c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(source + "$");
}

/** Whether a media type (as mediaTypeFor gives it) is HTML. */
export function isHtml(type: string): boolean {
  return type.startsWith("text/html");
}

/** The Cache-Control field of each kind of answer, as field name and value (or nothing). */
export class CachePolicy {
  #globs: RegExp[];
  #immutable: readonly string[] = ["Cache-Control", IMMUTABLE];
  /** For HTML, listings and everything else no glob matches. */
  readonly document: readonly string[];

  /** @param options --cache-control and --immutable */
  constructor(options: CachePolicyOptions) {
    this.#globs = (options.immutable ?? []).map(globToRegExp);
    const value = options.cacheControl === undefined ? REVALIDATE : options.cacheControl;
    this.document = value === null || value === "" ? [] : ["Cache-Control", value];
  }

  /**
   * The field for a file. HTML is never immutable: a page kept for a year would keep pointing at
   * the assets of the build it came with.
   * @param path the file's path beneath the root, beginning with `/`
   * @param type its media type
   */
  fieldsFor(path: string, type: string): readonly string[] {
    if (!isHtml(type)) {
      for (const glob of this.#globs) if (glob.test(path)) return this.#immutable;
    }
    return this.document;
  }
}
