import assert from "node:assert/strict";
import { decodeInteger, encodeInteger, HpackDecoder, HpackEncoder } from "../../../http/h2/hpack.ts";
import { DynamicTable, HpackError, STATIC_TABLE } from "../../../http/h2/hpack_tables.ts";
import {
  HUFFMAN_BITS,
  HUFFMAN_CODES,
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
} from "../../../http/h2/huffman.ts";
import { FrameWriter as OutputBuffer } from "../../../http/h2/frames.ts";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

function decodeAll(decoder: HpackDecoder, wire: Uint8Array, max = 1 << 20): [string, string][] {
  const out: string[] = [];
  assert.equal(decoder.decode(wire, 0, wire.length, out, max), true);
  return pairs(out);
}

function tableOf(table: DynamicTable): [string, string, number][] {
  const rows: [string, string, number][] = [];
  for (let i = 0; i < table.length; i++) {
    rows.push([table.name(i), table.value(i), table.name(i).length + table.value(i).length + 32]);
  }
  return rows;
}

function encodeBlock(encoder: HpackEncoder, fields: [string, string][]): Uint8Array {
  const out = new OutputBuffer(64);
  encoder.encode(out, fields.flat());
  return out.bytes.slice(0, out.length);
}

// ---- Huffman ---------------------------------------------------------------------------------

Deno.test("Huffman codes are RFC 7541 Appendix B's (spot checks, EOS, prefix-free and complete)", () => {
  assert.equal(HUFFMAN_CODES[48], 0x0); // '0' 00000
  assert.equal(HUFFMAN_BITS[48], 5);
  assert.equal(HUFFMAN_CODES[0], 0x1ff8);
  assert.equal(HUFFMAN_BITS[0], 13);
  assert.equal(HUFFMAN_CODES[32], 0x14);
  assert.equal(HUFFMAN_CODES[255], 0x3ffffee);
  assert.equal(HUFFMAN_BITS[255], 26);
  assert.equal(HUFFMAN_CODES[256], 0x3fffffff); // EOS
  assert.equal(HUFFMAN_BITS[256], 30);
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** -HUFFMAN_BITS[s]!;
  assert.equal(kraft, 1);
});

Deno.test("huffmanDecode() inverts huffmanEncode() for every octet and for random strings", () => {
  let all = "";
  for (let c = 0; c < 256; c++) all += String.fromCharCode(c);
  const strings = [all, "", "a", "www.example.com", "\xff\x00\x7f"];
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    let s = "";
    const n = i % 40;
    for (let j = 0; j < n; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      s += String.fromCharCode(seed >>> 24);
    }
    strings.push(s);
  }
  for (const s of strings) {
    const buf = new Uint8Array(huffmanLength(s) + 4);
    buf.fill(0xaa); // garbage past the end must not be read
    const end = huffmanEncode(s, buf, 2);
    assert.equal(end - 2, huffmanLength(s));
    assert.equal(huffmanDecode(buf, 2, end), s);
  }
});

Deno.test("huffmanDecode() rejects EOS, padding over 7 bits and padding that is not all ones (RFC 7541 §5.2)", () => {
  // EOS (30 ones) followed by 2 ones of padding.
  assert.equal(huffmanDecode(hex("ffffffff"), 0, 4), null);
  // A whole byte of ones after a symbol: 8 bits of padding.
  assert.equal(huffmanDecode(hex("1fff"), 0, 2), null); // '0' (00000) + 111 pad, then 8 more ones
  assert.equal(huffmanDecode(hex("ff"), 0, 1), null); // 8 bits of padding alone
  // Padding with a zero: '0' is 00000, pad 110.
  assert.equal(huffmanDecode(hex("06"), 0, 1), null);
  assert.equal(huffmanDecode(hex("07"), 0, 1), "0"); // 00000 111: valid
  assert.equal(huffmanDecode(hex(""), 0, 0), "");
});

// ---- integers ----------------------------------------------------------------------------------

Deno.test("integers: RFC 7541 C.1 examples both ways, and overlong or truncated integers rejected", () => {
  const buf = new Uint8Array(8);
  assert.equal(toHex(buf.subarray(0, encodeInteger(buf, 0, 10, 5, 0))), "0a"); // C.1.1
  assert.equal(toHex(buf.subarray(0, encodeInteger(buf, 0, 1337, 5, 0))), "1f9a0a"); // C.1.2
  assert.equal(toHex(buf.subarray(0, encodeInteger(buf, 0, 42, 8, 0))), "2a"); // C.1.3
  assert.equal(decodeInteger(hex("0a"), 0, 1, 5), 10);
  assert.equal(decodeInteger(hex("1f9a0a"), 0, 3, 5), 1337);
  assert.equal(decodeInteger(hex("2a"), 0, 1, 8), 42);
  for (const n of [0, 30, 31, 32, 127, 128, 255, 16383, 2 ** 31 - 1]) {
    const end = encodeInteger(buf, 0, n, 5, 0xe0);
    assert.equal(buf[0]! & 0xe0, 0xe0);
    assert.equal(decodeInteger(buf, 0, end, 5), n);
  }
  assert.throws(() => decodeInteger(hex("1f9a"), 0, 2, 5), HpackError);
  assert.throws(() => decodeInteger(hex("1fffffffff0f"), 0, 6, 5), HpackError);
  assert.throws(() => decodeInteger(hex("1f" + "80".repeat(1000) + "01"), 0, 1002, 5), HpackError);
});

// ---- RFC 7541 Appendix C -------------------------------------------------------------------------

Deno.test("RFC 7541 C.2: literal with and without indexing, never indexed, indexed", () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(
    decodeAll(decoder, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")),
    [[
      "custom-key",
      "custom-header",
    ]],
  );
  assert.deepEqual(tableOf(decoder.table), [["custom-key", "custom-header", 55]]);
  const d2 = new HpackDecoder();
  assert.deepEqual(decodeAll(d2, hex("040c 2f73 616d 706c 652f 7061 7468")), [[":path", "/sample/path"]]);
  assert.equal(d2.table.length, 0);
  const d3 = new HpackDecoder();
  assert.deepEqual(decodeAll(d3, hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [[
    "password",
    "secret",
  ]]);
  assert.equal(d3.table.length, 0);
  const d4 = new HpackDecoder();
  assert.deepEqual(decodeAll(d4, hex("82")), [[":method", "GET"]]);
  assert.equal(d4.table.length, 0);
});

type Example = { wire: string; headers: [string, string][]; table: [string, string, number][] };

const REQUESTS: [string, string][][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], [
    "cache-control",
    "no-cache",
  ]],
  [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], [
    "custom-key",
    "custom-value",
  ]],
];
const REQUEST_TABLES: [string, string, number][][] = [
  [[":authority", "www.example.com", 57]],
  [["cache-control", "no-cache", 53], [":authority", "www.example.com", 57]],
  [["custom-key", "custom-value", 54], ["cache-control", "no-cache", 53], [
    ":authority",
    "www.example.com",
    57,
  ]],
];
const C3 = [
  "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "8286 84be 5808 6e6f 2d63 6163 6865",
  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4 = [
  "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
  "8286 84be 5886 a8eb 1064 9cbf",
  "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const D1 = "Mon, 21 Oct 2013 20:13:21 GMT", D2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC = "https://www.example.com";
const RESPONSES: Omit<Example, "wire">[] = [
  {
    headers: [[":status", "302"], ["cache-control", "private"], ["date", D1], ["location", LOC]],
    table: [["location", LOC, 63], ["date", D1, 65], ["cache-control", "private", 52], [
      ":status",
      "302",
      42,
    ]],
  },
  {
    headers: [[":status", "307"], ["cache-control", "private"], ["date", D1], ["location", LOC]],
    table: [[":status", "307", 42], ["location", LOC, 63], ["date", D1, 65], [
      "cache-control",
      "private",
      52,
    ]],
  },
  {
    headers: [[":status", "200"], ["cache-control", "private"], ["date", D2], ["location", LOC], [
      "content-encoding",
      "gzip",
    ], ["set-cookie", COOKIE]],
    table: [["set-cookie", COOKIE, 98], ["content-encoding", "gzip", 52], ["date", D2, 65]],
  },
];
const C5 = [
  "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "4803 3330 37c1 c0bf",
  "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
];
const C6 = [
  "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
  "4883 640e ffc1 c0bf",
  "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

for (const [id, wires] of [["C.3 (requests, no Huffman)", C3], ["C.4 (requests, Huffman)", C4]] as const) {
  Deno.test(`RFC 7541 ${id}: three requests decode in turn, with the dynamic table shown`, () => {
    const decoder = new HpackDecoder();
    wires.forEach((wire, i) => {
      assert.deepEqual(decodeAll(decoder, hex(wire)), REQUESTS[i]);
      assert.deepEqual(tableOf(decoder.table), REQUEST_TABLES[i]);
    });
  });
}

Deno.test("RFC 7541 C.3 and C.4: the encoder produces the RFC's bytes, plain and Huffman-coded", () => {
  for (const [huffman, wires] of [[false, C3], [true, C4]] as const) {
    const encoder = new HpackEncoder({ huffman });
    wires.forEach((wire, i) => assert.equal(toHex(encodeBlock(encoder, REQUESTS[i]!)), toHex(hex(wire))));
  }
});

for (const [id, wires] of [["C.5 (responses, no Huffman)", C5], ["C.6 (responses, Huffman)", C6]] as const) {
  Deno.test(`RFC 7541 ${id}: three responses with a 256-octet table evict in order`, () => {
    const decoder = new HpackDecoder();
    decoder.table.resize(256);
    wires.forEach((wire, i) => {
      assert.deepEqual(decodeAll(decoder, hex(wire)), RESPONSES[i]!.headers);
      assert.deepEqual(tableOf(decoder.table), RESPONSES[i]!.table);
      assert.ok(decoder.table.size <= 256);
    });
  });
}

Deno.test("RFC 7541 C.5/C.6 responses: our encoder's blocks decode back to the same fields", () => {
  const encoder = new HpackEncoder(), decoder = new HpackDecoder();
  encoder.setPeerLimit(256);
  for (const { headers } of RESPONSES) {
    const block = encodeBlock(encoder, headers);
    assert.deepEqual(decodeAll(decoder, block), headers);
    assert.ok(decoder.table.size <= 256);
  }
});

// ---- the decoder's errors and bounds -------------------------------------------------------------

Deno.test("decode() rejects malformed blocks with HpackError", () => {
  const cases: [string, string][] = [
    ["80", "index 0"],
    ["be", "index past the static table with an empty dynamic table"],
    ["ff ff 7f", "index far past the tables"],
    ["40 0a 6375", "truncated name"],
    ["41 05 6162", "truncated value"],
    ["41", "literal with no value"],
    ["41 81 ff", "Huffman value that is all padding (8 ones)"],
    ["82 20", "size update after a field"],
    ["3fe21f", "size update above SETTINGS_HEADER_TABLE_SIZE (4097)"],
    ["1f", "truncated integer"],
  ];
  for (const [wire, what] of cases) {
    const b = hex(wire);
    assert.throws(() => new HpackDecoder().decode(b, 0, b.length, [], 1 << 20), HpackError, what);
  }
});

Deno.test("decode() honours size updates at the start of a block, two in a row included", () => {
  const decoder = new HpackDecoder();
  decodeAll(decoder, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  assert.equal(decoder.table.length, 1);
  assert.deepEqual(decodeAll(decoder, hex("20 3fe11f 82")), [[":method", "GET"]]); // 0 then 4096
  assert.equal(decoder.table.length, 0);
  assert.equal(decoder.table.maxSize, 4096);
});

Deno.test("decode() bounds the header list: an HPACK bomb stops materialising at the bound", () => {
  // One 4000-octet value indexed, then referenced 10,000 times: 40 MB decoded, 10 kB on the wire.
  const big = "x".repeat(3000);
  const out = new OutputBuffer(64);
  out.append(hex("40 05 782d626967")); // literal with incremental indexing, name "x-big"
  out.length = encodeInteger(out.bytes, out.length, big.length, 7, 0);
  out.append(new TextEncoder().encode(big));
  const first = out.bytes.slice(0, out.length);
  const refs = new Uint8Array(10_000).fill(0xbe); // index 62, the newest entry
  const decoder = new HpackDecoder();
  const fields: string[] = [];
  assert.equal(decoder.decode(first, 0, first.length, fields, 16384), true);
  fields.length = 0;
  const t0 = performance.now();
  assert.equal(decoder.decode(refs, 0, refs.length, fields, 16384), false);
  assert.ok(fields.length <= 2 * 6, `kept ${fields.length / 2} fields`);
  assert.ok(performance.now() - t0 < 200);
  // The table stays in step: a field after the bomb still decodes.
  const after: string[] = [];
  assert.equal(decoder.decode(hex("be"), 0, 1, after, 16384), true);
  assert.deepEqual(after, ["x-big", big]);
});

Deno.test("decode() over the bound still indexes literals, keeping the table in step with the encoder", () => {
  const encoder = new HpackEncoder(), decoder = new HpackDecoder();
  const out = new OutputBuffer(64);
  encoder.encode(out, ["a", "1".repeat(100), "b", "2".repeat(100), "c", "3"]);
  const fields: string[] = [];
  assert.equal(decoder.decode(out.bytes, 0, out.length, fields, 150), false);
  assert.equal(decoder.table.length, 3);
  out.length = 0;
  encoder.encode(out, ["c", "3", "b", "2".repeat(100)]);
  assert.equal(toHex(out.bytes.subarray(0, out.length)), "bebf");
  fields.length = 0;
  assert.equal(decoder.decode(out.bytes, 0, out.length, fields, 1000), true);
  assert.deepEqual(fields, ["c", "3", "b", "2".repeat(100)]);
});

Deno.test("a literal larger than the whole table empties it (RFC 7541 §4.4)", () => {
  const table = new DynamicTable(100);
  table.add("a", "b");
  assert.equal(table.length, 1);
  table.add("x", "y".repeat(100));
  assert.equal(table.length, 0);
  assert.equal(table.size, 0);
  // The same through a decoder over its bound: the entry's lower bound alone passes the table.
  const decoder = new HpackDecoder(100);
  decoder.table.add("a", "b");
  const block = new OutputBuffer(256);
  block.append(hex("40 01 78 7f 00")); // literal with indexing, name "x", value 127 octets
  block.append(new Uint8Array(127).fill(0x79));
  assert.equal(decoder.decode(block.bytes, 0, block.length, [], 50), false);
  assert.equal(decoder.table.length, 0);
});

// ---- the encoder -------------------------------------------------------------------------------

Deno.test("encode() uses static indexes, indexes repeated fields, and keeps volatile ones out of the table", () => {
  const encoder = new HpackEncoder();
  const fields: [string, string][] = [
    [":status", "200"],
    ["content-type", "text/html"],
    ["server", "rawserve"],
    ["content-length", "13"],
  ];
  const first = encodeBlock(encoder, fields);
  assert.equal(first[0], 0x88); // :status 200 is static index 8
  const second = encodeBlock(encoder, fields);
  // :status 200, then content-type and server from the dynamic table, content-length literal.
  assert.equal(toHex(second.subarray(0, 3)), "88bfbe");
  assert.equal(second[3], 0x0f); // without indexing, name index 28 = 15 + 13
  assert.equal(encoder.table.length, 2);
  const decoder = new HpackDecoder();
  assert.deepEqual(decodeAll(decoder, first), fields);
  assert.deepEqual(decodeAll(decoder, second), fields);
});

Deno.test("encode() refuses upper-case names and CR, LF or NUL in values", () => {
  const encoder = new HpackEncoder();
  assert.throws(() => encodeBlock(encoder, [["Content-Type", "x"]]), TypeError);
  assert.throws(() => encodeBlock(encoder, [["x", "a\r\nb"]]), TypeError);
  assert.throws(() => encodeBlock(encoder, [["x", "a\0b"]]), TypeError);
  assert.throws(() => encodeBlock(encoder, [["x", "\u0100"]]), TypeError);
});

Deno.test("a value met before is coded as it was the first time, under any name and by any connection's encoder", () => {
  const fields: [string, string][] = [
    ["etag", '"abc-123"'],
    ["x-tag", '"abc-123"'], // the same value under a name that is indexed
    ["content-length", "1234"],
    ["x-length", "1234"],
    ["x-long", "v".repeat(300)], // past the memo's length bound
  ];
  const first = encodeBlock(new HpackEncoder(), fields);
  const again = encodeBlock(new HpackEncoder(), fields); // the values are remembered now
  assert.deepEqual(again, first);
  const decoder = new HpackDecoder();
  assert.deepEqual(decodeAll(decoder, first), fields);
  // Plain coding (huffman: false) neither uses nor fills the memo of Huffman-coded values;
  // etag is static index 34: 0x0f then 34 - 15.
  const plain = encodeBlock(new HpackEncoder({ huffman: false }), [["etag", '"abc-123"']]);
  assert.equal(toHex(plain), "0f1309" + toHex(new TextEncoder().encode('"abc-123"')));
});

Deno.test("encode() codes thousands of distinct values right as its memo of values fills and starts again", () => {
  const encoder = new HpackEncoder(), decoder = new HpackDecoder();
  for (let i = 0; i < 3000; i++) {
    const fields: [string, string][] = [["etag", `"e${i}"`], ["x-n", `v${i % 700}`], ["date", `d${i >> 4}`]];
    assert.deepEqual(decodeAll(decoder, encodeBlock(encoder, fields)), fields);
  }
});

Deno.test("a refused field is refused every time, after valid fields with the same name or value", () => {
  const encoder = new HpackEncoder();
  encodeBlock(encoder, [["x-ok", "fine"], ["content-type", "text/plain"]]);
  for (let i = 0; i < 2; i++) {
    assert.throws(() => encodeBlock(encoder, [["x-ok", "bad\r\n"]]), TypeError);
    assert.throws(() => encodeBlock(encoder, [["X-Ok", "fine"]]), TypeError);
  }
  assert.equal(encoder.table.length, 2); // nothing refused went into the table
});

Deno.test("setPeerLimit() announces the new size at the next block, the lowest first after a shrink and grow", () => {
  const encoder = new HpackEncoder(), decoder = new HpackDecoder();
  decodeAll(decoder, encodeBlock(encoder, [["x-a", "1"]]));
  encoder.setPeerLimit(0);
  encoder.setPeerLimit(2048);
  const block = encodeBlock(encoder, [["x-a", "1"]]);
  assert.equal(toHex(block.subarray(0, 4)), "203fe10f"); // 0, then 2048
  assert.deepEqual(decodeAll(decoder, block), [["x-a", "1"]]);
  assert.equal(decoder.table.maxSize, 2048);
  assert.equal(encoder.table.maxSize, 2048);
  encoder.setPeerLimit(65536); // capped at ENCODER_TABLE_LIMIT
  assert.equal(encoder.table.maxSize, 4096);
});

Deno.test("the static table has RFC 7541 Appendix A's 61 entries", () => {
  assert.equal(STATIC_TABLE.length, 61);
  assert.deepEqual(STATIC_TABLE[0], [":authority", ""]);
  assert.deepEqual(STATIC_TABLE[7], [":status", "200"]);
  assert.deepEqual(STATIC_TABLE[60], ["www-authenticate", ""]);
});

// ---- the corpus ----------------------------------------------------------------------------------

const VECTORS = new URL("../../../../shared/vectors/hpack/", import.meta.url);
const haveVectors = (() => {
  try {
    return Deno.statSync(VECTORS).isDirectory;
  } catch {
    return false;
  }
})();

type Story = {
  cases: { seqno: number; header_table_size?: number; wire: string; headers: Record<string, string>[] }[];
};

function stories(): [string, Story][] {
  const out: [string, Story][] = [];
  for (const dir of [...Deno.readDirSync(VECTORS)].filter((e) => e.isDirectory).map((e) => e.name).sort()) {
    for (const file of [...Deno.readDirSync(new URL(`${dir}/`, VECTORS))].map((e) => e.name).sort()) {
      if (!file.endsWith(".json")) continue;
      out.push([`${dir}/${file}`, JSON.parse(Deno.readTextFileSync(new URL(`${dir}/${file}`, VECTORS)))]);
    }
  }
  return out;
}

Deno.test({
  name: haveVectors
    ? "every story of the hpack-test-case corpus decodes, case after case, to its headers"
    : "hpack-test-case corpus: SKIPPED, ../shared/vectors/hpack is not beside the repository",
  ignore: !haveVectors,
  fn() {
    let cases = 0;
    const all = stories();
    assert.ok(all.length >= 90, `found ${all.length} stories`);
    for (const [name, story] of all) {
      const decoder = new HpackDecoder();
      for (const c of story.cases) {
        const wire = hex(c.wire);
        const want = c.headers.map((h) => Object.entries(h)[0]!);
        assert.deepEqual(decodeAll(decoder, wire), want, `${name} seqno ${c.seqno}`);
        cases++;
      }
    }
    assert.ok(cases > 9000, `${cases} cases`);
  },
});

Deno.test({
  name: haveVectors
    ? "every story of the corpus, encoded by our encoder, decodes back to its headers"
    : "hpack-test-case corpus round trip: SKIPPED, ../shared/vectors/hpack is not beside the repository",
  ignore: !haveVectors,
  fn() {
    let plain = 0, coded = 0;
    for (const [name, story] of stories()) {
      const encoder = new HpackEncoder(), decoder = new HpackDecoder();
      for (const c of story.cases) {
        const want = c.headers.map((h) => Object.entries(h)[0]!);
        if (c.header_table_size !== undefined) encoder.setPeerLimit(c.header_table_size);
        const block = encodeBlock(encoder, want);
        assert.deepEqual(decodeAll(decoder, block), want, `${name} seqno ${c.seqno}`);
        plain += c.wire.length / 2;
        coded += block.length;
      }
    }
    // Our encoder compresses at least as well as the corpus encoders, on average, give or take.
    assert.ok(coded < plain * 1.25, `ours ${coded} bytes, theirs ${plain}`);
  },
});
