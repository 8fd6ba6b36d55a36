// Text for people: sizes in binary units (listings, counters), and text made safe inside HTML.

// Made at first use: the first Intl object of a process costs ~10 ms (ICU data), at start-up otherwise.
let oneDecimal: Intl.NumberFormat | null = null;
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** `1.2 MiB` */
export function formatBytes(bytes: number): string {
  let i = 0, n = bytes;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${(oneDecimal ??= new Intl.NumberFormat("en", { maximumFractionDigits: 1 })).format(n)} ${
    UNITS[i]
  }`;
}

/** Text with HTML's special characters as character references, safe in elements and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
