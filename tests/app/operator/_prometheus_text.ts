// A strict parser for the Prometheus text exposition format, version 0.0.4, written from the
// format's rules (prometheus/docs, content/docs/instrumenting/exposition_formats.md) so the tests
// judge rawserve's /metrics by them rather than by rawserve's own writer. It rejects what the
// format forbids or leaves undefined, where Prometheus' lenient parsers would let it pass:
//
// - the text is UTF-8 lines separated by "\n", and the last line ends with "\n";
// - `# HELP name docstring` (escapes `\\` and `\n` only) and `# TYPE name type`, at most one
//   each per name, TYPE before the name's first sample; other `#` lines are comments;
// - a sample is `name{label="value",...} value [timestamp]`: names match the expression
//   language's rules, label names do not begin with `__`, label values escape only `\\`, `\"`
//   and `\n`, a label appears once per sample, values are Go ParseFloat numbers (`+Inf`, `NaN`);
// - every family's lines form one uninterrupted group, HELP and TYPE first;
// - each name-and-labels combination appears once;
// - a histogram `x` has, per label set, `x_bucket` lines with an `le` label in increasing order,
//   cumulative (never decreasing), ending at `le="+Inf"` whose value equals `x_count`, and an
//   `x_sum` and an `x_count`.
// One data-model rule is checked beyond the text format: counter and histogram counts are never
// negative.

/** One sample line. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp: number | null;
}

/** A metric family: its samples, HELP and TYPE. */
export interface PromFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
// Go's strconv.ParseFloat, decimal forms: digits with an optional fraction and exponent, and
// Inf/Infinity/NaN in any case with an optional sign (NaN without one).
const FLOAT =
  /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)$|^[nN][aA][nN]$/;
const INT64 = /^-?\d{1,19}$/;

/** A line the format does not allow, with its number. */
export class PromParseError extends Error {}

function fail(line: number, message: string): never {
  throw new PromParseError(`line ${line}: ${message}`);
}

function parseFloatStrict(text: string, line: number): number {
  if (!FLOAT.test(text)) fail(line, `not a float: ${JSON.stringify(text)}`);
  const lower = text.toLowerCase();
  if (lower.includes("inf")) return lower.startsWith("-") ? -Infinity : Infinity;
  if (lower === "nan") return NaN;
  return Number(text);
}

/** Splits off the first blank-separated token. */
function token(text: string): [string, string] {
  const t = text.replace(/^[ \t]+/, "");
  const end = t.search(/[ \t]/);
  return end < 0 ? [t, ""] : [t.slice(0, end), t.slice(end)];
}

function unescapeHelp(text: string, line: number): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    return fail(line, `invalid escape \\${c} in HELP`);
  });
}

/** Parses `{a="x",b="y"}` at the start of `text`; returns the labels and the rest. */
function parseLabels(text: string, line: number): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1; // past "{"
  const skip = () => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  for (;;) {
    skip();
    if (text[i] === "}") return [labels, text.slice(i + 1)];
    let name = "";
    while (i < text.length && /[a-zA-Z0-9_]/.test(text[i]!)) name += text[i++];
    if (!LABEL_NAME.test(name)) fail(line, `bad label name ${JSON.stringify(name)}`);
    if (name.startsWith("__")) fail(line, `label name ${name} is reserved`);
    if (name in labels) fail(line, `label ${name} twice`);
    skip();
    if (text[i++] !== "=") fail(line, `expected = after label ${name}`);
    skip();
    if (text[i++] !== '"') fail(line, `expected " to open the value of ${name}`);
    let value = "";
    for (;;) {
      const c = text[i++];
      if (c === undefined) fail(line, `unterminated value of ${name}`);
      if (c === '"') break;
      if (c === "\\") {
        const e = text[i++];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else fail(line, `invalid escape \\${e ?? ""} in label value`);
      } else value += c;
    }
    labels[name] = value;
    skip();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail(line, `expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to, given the TYPEs declared so far. */
function familyOf(name: string, types: Map<string, PromFamily["type"]>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = types.get(base);
    if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) return base;
  }
  return name;
}

/**
 * Parses an exposition strictly.
 * @returns the families by name, in the order they appeared
 * @throws {PromParseError} naming the first line that breaks a rule
 */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text.length > 0 && !text.endsWith("\n")) fail(0, "the last line must end with a line feed");
  if (text.includes("\r")) fail(0, "lines are separated by \\n alone");
  const families = new Map<string, PromFamily>();
  const types = new Map<string, PromFamily["type"]>();
  const seen = new Set<string>();
  const closed = new Set<string>(); // families whose group has ended
  let current: string | null = null;
  const enter = (family: string, line: number) => {
    if (family === current) return;
    if (closed.has(family)) fail(line, `lines of ${family} are not one uninterrupted group`);
    if (current !== null) closed.add(current);
    current = family;
  };
  const familyNamed = (name: string): PromFamily => {
    let f = families.get(name);
    if (!f) families.set(name, f = { name, type: "untyped", help: null, samples: [] });
    return f;
  };
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((raw, index) => {
    const n = index + 1;
    const line = raw.replace(/^[ \t]+|[ \t]+$/g, "");
    if (line === "") return;
    if (line.startsWith("#")) {
      const [keyword, rest] = token(line.slice(1));
      if (keyword !== "HELP" && keyword !== "TYPE") return; // a comment
      const [name, after] = token(rest);
      if (!METRIC_NAME.test(name)) fail(n, `bad metric name ${JSON.stringify(name)} in ${keyword}`);
      enter(name, n);
      const family = familyNamed(name);
      if (family.samples.length > 0) fail(n, `${keyword} for ${name} after its samples`);
      if (keyword === "HELP") {
        if (family.help !== null) fail(n, `a second HELP for ${name}`);
        family.help = unescapeHelp(after.replace(/^[ \t]/, ""), n);
      } else {
        const [type, extra] = token(after);
        if (!TYPES.has(type) || extra.trim() !== "") fail(n, `TYPE takes a name and one of ${[...TYPES]}`);
        if (types.has(name)) fail(n, `a second TYPE for ${name}`);
        types.set(name, type as PromFamily["type"]);
        family.type = type as PromFamily["type"];
      }
      return;
    }
    const nameEnd = line.search(/[{ \t]/);
    const name = nameEnd < 0 ? line : line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) fail(n, `bad metric name ${JSON.stringify(name)}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, n);
    const [valueText, afterValue] = token(rest);
    const [timestampText, extra] = token(afterValue);
    if (extra.trim() !== "") fail(n, `unexpected ${JSON.stringify(extra.trim())} after the timestamp`);
    if (timestampText !== "" && !INT64.test(timestampText)) fail(n, `bad timestamp ${timestampText}`);
    const value = parseFloatStrict(valueText, n);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail(n, `${name} with these labels twice`);
    seen.add(key);
    const familyName = familyOf(name, types);
    enter(familyName, n);
    const family = familyNamed(familyName);
    if ((family.type === "counter" || family.type === "histogram") && !(value >= 0)) {
      fail(n, `${name} is a count and cannot be ${valueText}`);
    }
    family.samples.push({
      name,
      labels,
      value,
      timestamp: timestampText === "" ? null : Number(timestampText),
    });
  });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** The histogram rules, per label set (all labels but `le`). */
function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, { buckets: PromSample[]; sum?: PromSample; count?: PromSample }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = groups.get(key);
    if (!g) groups.set(key, g = { buckets: [] });
    if (s.name === `${family.name}_bucket`) {
      if (le === undefined) fail(0, `${s.name} without an le label`);
      g.buckets.push(s);
    } else if (s.name === `${family.name}_sum`) g.sum = s;
    else if (s.name === `${family.name}_count`) g.count = s;
    else fail(0, `${s.name} in histogram ${family.name}`);
  }
  for (const [key, g] of groups) {
    const where = `${family.name}${key}`;
    if (!g.sum || !g.count) fail(0, `${where} needs _sum and _count`);
    if (g.buckets.length === 0) fail(0, `${where} has no buckets`);
    let lastLe = -Infinity, lastCount = 0;
    for (const b of g.buckets) {
      const le = parseFloatStrict(b.labels.le!, 0);
      if (!(le > lastLe)) fail(0, `${where}: le="${b.labels.le}" is not above the bucket before`);
      if (b.value < lastCount) fail(0, `${where}: bucket le="${b.labels.le}" is not cumulative`);
      lastLe = le;
      lastCount = b.value;
    }
    if (lastLe !== Infinity) fail(0, `${where} must end with a bucket le="+Inf"`);
    if (lastCount !== g.count.value) fail(0, `${where}: the +Inf bucket (${lastCount}) differs from _count`);
  }
}
