// restic identifiers: 32 bytes, 64 lower-case hex characters in JSON and file names.

export const ID_LENGTH = 32;
const hexId = /^[0-9a-f]{64}$/;

export function isId(text: string): boolean {
  return hexId.test(text);
}

export function idToHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

export function hexToId(hex: string): Buffer {
  if (!isId(hex)) throw new RangeError(`not a restic id: ${JSON.stringify(hex)}`);
  return Buffer.from(hex, 'hex');
}

export function shortId(hex: string): string {
  return hex.slice(0, 8);
}
