// The server's answer to a WebSocket key (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and
// a fixed GUID. SHA-1 (RFC 3174) is computed here, in a few dozen lines, so that an upgrade loads
// neither node:crypto (~25-35 ms the first time) nor OpenSSL: the value is a handshake check, not
// a security property, and the input is always 60 bytes (two blocks).

/** RFC 6455 §1.3: appended to the client's key before hashing. */
export const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const ENCODER = new TextEncoder();
/** The message schedule, reused: the reactor runs one callback at a time. */
const W = new Int32Array(80);

/**
 * SHA-1 of `bytes` (RFC 3174).
 * @returns the 20-byte digest
 */
export function sha1(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  const blocks = ((length + 8) >> 6) + 1;
  const words = new Int32Array(blocks * 16); // big-endian words, padded
  for (let i = 0; i < length; i++) words[i >> 2]! |= bytes[i]! << (24 - (i & 3) * 8);
  words[length >> 2]! |= 0x80 << (24 - (length & 3) * 8);
  words[blocks * 16 - 2] = Math.floor(length / 0x20000000); // the length in bits, high word
  words[blocks * 16 - 1] = length << 3;
  let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476, h4 = 0xc3d2e1f0 | 0;
  for (let block = 0; block < words.length; block += 16) {
    for (let t = 0; t < 16; t++) W[t] = words[block + t]!;
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      if (t < 20) f = ((b & c) | (~b & d)) + 0x5a827999;
      else if (t < 40) f = (b ^ c ^ d) + 0x6ed9eba1;
      else if (t < 60) f = ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc;
      else f = (b ^ c ^ d) + 0xca62c1d6;
      const next = (((a << 5) | (a >>> 27)) + f + e + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = next;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const out = new Uint8Array(20);
  const view = new DataView(out.buffer);
  [h0, h1, h2, h3, h4].forEach((h, i) => view.setInt32(i * 4, h));
  return out;
}

/**
 * The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
 * @param key the key as sent (24 characters of base64)
 */
export function acceptValue(key: string): string {
  const digest = sha1(ENCODER.encode(key + ACCEPT_GUID));
  let binary = "";
  for (let i = 0; i < digest.length; i++) binary += String.fromCharCode(digest[i]!);
  return btoa(binary);
}
