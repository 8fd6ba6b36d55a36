// Hand-built PROXY protocol v2 headers for the parser's tests and the end-to-end ones.

export const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: command (0 LOCAL, 1 PROXY), family byte, address block, TLVs. */
export function v2(command: number, family: number, addresses: number[], tlvs: number[] = []): Uint8Array {
  const length = addresses.length + tlvs.length;
  return new Uint8Array([
    ...SIGNATURE,
    0x20 | command,
    family,
    length >> 8,
    length & 0xff,
    ...addresses,
    ...tlvs,
  ]);
}
