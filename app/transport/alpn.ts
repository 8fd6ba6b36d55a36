// Application-Layer Protocol Negotiation (RFC 7301) for the TLS context: which protocols the
// server offers, the selection callback OpenSSL calls during the handshake, and the protocol a
// connection ended up with. The callback points OpenSSL at the name inside the client's own
// list (OpenSSL's memory, valid for the call; it copies the name before returning to us), so no
// buffer of ours, which the garbage collector could move, is ever handed over.

import { libssl, SSL_TLSEXT_ERR_ALERT_FATAL, SSL_TLSEXT_ERR_OK } from "../../ffi/libssl.ts";

const { SSL_get0_alpn_selected } = libssl.symbols;

/** The protocol IDs we speak (RFC 7301 §6, IANA's registry): HTTP/2 over TLS, and HTTP/1.1. */
export const ALPN = { H2: "h2", HTTP11: "http/1.1" } as const;

const ENCODER = new TextEncoder();
const H2_ID = ENCODER.encode(ALPN.H2);
const HTTP11_ID = ENCODER.encode(ALPN.HTTP11);
/** The server's preference: h2 first when HTTP/2 is on (RFC 9113 §3.2), as nginx and Caddy do. */
const WITH_H2: readonly Uint8Array[] = [H2_ID, HTTP11_ID];
const HTTP11_ONLY: readonly Uint8Array[] = [HTTP11_ID];

/**
 * Where the first of `preferred` that the client offers starts in the client's list, in the
 * wire format of RFC 7301 §3.1 (each name is one length byte then the name): the offset of its
 * length byte, or -1 when none is offered or the list is malformed (OpenSSL has checked it
 * already; this stops at the first inconsistency rather than trusting it). Server preference
 * decides, not the client's order (RFC 7301 §3.2 leaves the choice to the server).
 * @param client the ClientHello's protocol_name_list
 * @param preferred our protocol IDs, most wanted first
 */
export function selectProtocol(client: Uint8Array, preferred: readonly Uint8Array[]): number {
  for (const name of preferred) {
    for (let i = 0; i < client.length;) {
      const length = client[i]!;
      if (length === 0 || i + 1 + length > client.length) break;
      if (length === name.length && equalAt(client, i + 1, name)) return i;
      i += 1 + length;
    }
  }
  return -1;
}

function equalAt(bytes: Uint8Array, at: number, name: Uint8Array): boolean {
  for (let j = 0; j < name.length; j++) if (bytes[at + j] !== name[j]) return false;
  return true;
}

/**
 * An SSL_CTX_set_alpn_select_cb(3) callback choosing from `preferred`. With nothing in common,
 * RFC 7301 §3.2: the server "SHALL respond with a fatal no_application_protocol alert" (nginx
 * does the same). A client that sends no ALPN extension never reaches it and gets HTTP/1.1.
 */
function selector(preferred: readonly Uint8Array[]) {
  return new Deno.UnsafeCallback(
    { parameters: ["pointer", "pointer", "pointer", "pointer", "u32", "pointer"], result: "i32" } as const,
    (_ssl, out, outLength, clientList, clientLength, _arg) => {
      if (!out || !outLength || !clientList || clientLength === 0) return SSL_TLSEXT_ERR_ALERT_FATAL;
      const client = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(clientList, clientLength));
      const at = selectProtocol(client, preferred);
      if (at < 0) return SSL_TLSEXT_ERR_ALERT_FATAL;
      // *out = the name inside the client's list; *outlen = its length byte.
      const name = BigInt(Deno.UnsafePointer.value(clientList)) + BigInt(at + 1);
      new BigUint64Array(Deno.UnsafePointerView.getArrayBuffer(out, 8))[0] = name;
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(outLength, 1))[0] = client[at]!;
      return SSL_TLSEXT_ERR_OK;
    },
  );
}

/** The callbacks, made once: they live as long as the process (every SSL_CTX may hold one). */
const SELECT_WITH_H2 = selector(WITH_H2);
const SELECT_HTTP11 = selector(HTTP11_ONLY);

/**
 * The ALPN callback for a context.
 * @param http2 whether `h2` is offered besides `http/1.1`
 */
export function alpnSelector(http2: boolean): Deno.PointerObject {
  return (http2 ? SELECT_WITH_H2 : SELECT_HTTP11).pointer;
}

/** SSL_get0_alpn_selected's out-parameters: reused, it is called once per handshake. */
const SELECTED_NAME = new BigUint64Array(1);
const SELECTED_LENGTH = new Uint32Array(1);

/**
 * The protocol a finished handshake agreed on (SSL_get0_alpn_selected(3)), or "" when the
 * client sent no ALPN extension (then it speaks HTTP/1.1, RFC 7301 §3.1).
 * @param ssl the connection's SSL
 */
export function negotiatedProtocol(ssl: Deno.PointerObject): string {
  SELECTED_NAME[0] = 0n;
  SELECTED_LENGTH[0] = 0;
  SSL_get0_alpn_selected(ssl, SELECTED_NAME, SELECTED_LENGTH);
  const pointer = Deno.UnsafePointer.create(SELECTED_NAME[0]!);
  const length = SELECTED_LENGTH[0]!;
  if (!pointer || length === 0) return "";
  const selected = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, length));
  if (length === H2_ID.length && equalAt(selected, 0, H2_ID)) return ALPN.H2;
  if (length === HTTP11_ID.length && equalAt(selected, 0, HTTP11_ID)) return ALPN.HTTP11;
  return "";
}
