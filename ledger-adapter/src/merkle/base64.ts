/**
 * Standard base64 (RFC 4648 §4, with padding), as used by C2SP notes, checkpoints and receipts.
 * Decoding is strict: only the canonical encoding of some byte string is accepted, so one
 * value has exactly one text form (Node's own decoder skips junk silently).
 */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const SHAPE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function fromBase64Strict(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !SHAPE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
