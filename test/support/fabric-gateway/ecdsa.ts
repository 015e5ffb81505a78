import { sign, verify, type KeyObject } from 'node:crypto';

// Fabric's BCCSP refuses ECDSA signatures whose S is in the upper half of the curve order (they
// are malleable: (r, n - s) verifies too), so both sides of this simulation hold to "low S".
const P256_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
const P256_HALF_ORDER = P256_ORDER >> 1n;

interface DerSignature {
  r: bigint;
  s: bigint;
}

function readInteger(der: Uint8Array, offset: number): { value: bigint; next: number } {
  if (der[offset] !== 0x02) throw new Error('expected an INTEGER');
  const length = der[offset + 1];
  if (length === undefined || length === 0 || length > 33) throw new Error('bad INTEGER length');
  const start = offset + 2;
  const end = start + length;
  if (end > der.length) throw new Error('truncated INTEGER');
  if ((der[start]! & 0x80) !== 0) throw new Error('negative INTEGER');
  let value = 0n;
  for (let i = start; i < end; i++) value = (value << 8n) | BigInt(der[i]!);
  return { value, next: end };
}

export function parseDerSignature(der: Uint8Array): DerSignature {
  if (der.length < 8 || der[0] !== 0x30) throw new Error('signature is not a DER SEQUENCE');
  // P-256 signatures are at most 72 bytes, so the short length form is the only valid one.
  if (der[1] !== der.length - 2) throw new Error('DER SEQUENCE length does not match');
  const r = readInteger(der, 2);
  const s = readInteger(der, r.next);
  if (s.next !== der.length) throw new Error('trailing bytes after signature');
  return { r: r.value, s: s.value };
}

function integerBytes(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function encodeDerSignature({ r, s }: DerSignature): Buffer {
  const rb = integerBytes(r);
  const sb = integerBytes(s);
  const body = Buffer.concat([Buffer.from([0x02, rb.length]), rb, Buffer.from([0x02, sb.length]), sb]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** ECDSA P-256 over SHA-256(message), DER, normalised to low S as a Fabric peer signs. */
export function signLowS(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  const parsed = parseDerSignature(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }));
  return parsed.s > P256_HALF_ORDER ? encodeDerSignature({ r: parsed.r, s: P256_ORDER - parsed.s }) : encodeDerSignature(parsed);
}

/**
 * Verifies a DER ECDSA signature over SHA-256(message) the way Fabric's MSP does: well-formed DER,
 * 0 < r, s < n, S in the lower half of the order, then the curve equation.
 */
export function verifyLowS(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  let parsed: DerSignature;
  try {
    parsed = parseDerSignature(signature);
  } catch {
    return false;
  }
  if (parsed.r <= 0n || parsed.r >= P256_ORDER || parsed.s <= 0n || parsed.s > P256_HALF_ORDER) return false;
  return verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signature);
}
