// Request paths to file-system paths beneath the root: decoded once, normalised, never above it.

/**
 * Percent-decodes a path once and normalises it. `..` never climbs above the root (it is
 * clamped, as URL resolution does), `.` and empty segments vanish. Decoding happens exactly
 * once, so `%252e%252e` is the literal name `%2e%2e`, never `..`.
 * @param rawPath the target's path, without the query
 * @returns the segments and whether the path ended in `/`, or null for a path to refuse
 *   (bad escape, invalid UTF-8, NUL, backslash)
 */
export function normalizePath(rawPath: string): { segments: string[]; trailingSlash: boolean } | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null; // malformed %XX or bytes that are not UTF-8
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const segments: string[] = [];
  for (const part of decoded.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") segments.pop();
    else segments.push(part);
  }
  const trailingSlash = decoded.endsWith("/") || decoded.endsWith("/.") || decoded.endsWith("/..");
  return { segments, trailingSlash };
}
