import { fromBase64Strict } from '../../src/merkle/base64.js';
import { HASH_SIZE } from '../../src/merkle/hash.js';
import { chaincodeError } from './chaincode-error.js';

/**
 * Parsing of transaction arguments. Fabric hands every argument over as a string, from any
 * client that can reach a peer, so each is checked strictly and refused with INVALID_ARGUMENT.
 */

/** Same bound as the embedded anchor (anchor-rules.ts): a checkpoint note is a few hundred bytes. */
export const MAX_NOTE_LENGTH = 64 * 1024;
/** Origins become state keys (hex, twice as long) and key names; a C2SP origin is a short URL-like name. */
export const MAX_ORIGIN_LENGTH = 256;
/** A consistency proof between trees of up to 2^53 leaves has well under 128 hashes. */
export const MAX_PROOF_HASHES = 128;
export const MAX_RANGE_LIMIT = 1000;

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function parseOrigin(value: unknown, name = 'origin'): string {
  if (typeof value !== 'string' || value.length === 0) throw chaincodeError('INVALID_ARGUMENT', `${name} must be a non-empty string`);
  if (value.length > MAX_ORIGIN_LENGTH) throw chaincodeError('INVALID_ARGUMENT', `${name} is longer than ${MAX_ORIGIN_LENGTH} characters`);
  if (value.includes('\n') || LONE_SURROGATE.test(value)) throw chaincodeError('INVALID_ARGUMENT', `${name} must be a single line of valid UTF-8`);
  return value;
}

/** A tree size as Fabric passes it: decimal, no sign, no leading zeros, at most 2^53 - 1. */
export function parseSize(value: unknown, name: string): number {
  if (typeof value !== 'string' || !DECIMAL.test(value)) throw chaincodeError('INVALID_ARGUMENT', `${name} must be a decimal integer without leading zeros`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw chaincodeError('INVALID_ARGUMENT', `${name} is too large`);
  return n;
}

/** `toSize` of GetRange: a size, or '' for no upper bound. */
export function parseOptionalSize(value: unknown, name: string): number | undefined {
  return value === '' ? undefined : parseSize(value, name);
}

export function parseLimit(value: unknown): number {
  const n = parseSize(value, 'limit');
  if (n === 0) throw chaincodeError('INVALID_ARGUMENT', 'limit must be at least 1');
  return Math.min(n, MAX_RANGE_LIMIT);
}

/** The origin of a signed checkpoint note: its first line. */
export function originOfNote(note: unknown): string {
  if (typeof note !== 'string' || note.length === 0) throw chaincodeError('INVALID_ARGUMENT', 'note must be a non-empty string');
  if (note.length > MAX_NOTE_LENGTH) throw chaincodeError('INVALID_ARGUMENT', `note is longer than ${MAX_NOTE_LENGTH} characters`);
  const end = note.indexOf('\n');
  if (end <= 0) throw chaincodeError('INVALID_ARGUMENT', 'note does not start with an origin line');
  return parseOrigin(note.slice(0, end), 'the note\'s origin');
}

/** A JSON array of base64 32-byte hashes. */
export function parseProof(value: unknown): Uint8Array[] {
  if (typeof value !== 'string') throw chaincodeError('INVALID_ARGUMENT', 'consistencyProof must be a JSON array');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw chaincodeError('INVALID_ARGUMENT', 'consistencyProof is not JSON');
  }
  if (!Array.isArray(parsed)) throw chaincodeError('INVALID_ARGUMENT', 'consistencyProof must be a JSON array');
  if (parsed.length > MAX_PROOF_HASHES) throw chaincodeError('INVALID_ARGUMENT', `consistencyProof has more than ${MAX_PROOF_HASHES} hashes`);
  return parsed.map((h, i) => {
    const bytes = fromBase64Strict(h);
    if (!bytes || bytes.length !== HASH_SIZE) {
      throw chaincodeError('INVALID_ARGUMENT', `consistencyProof[${i}] is not base64 of ${HASH_SIZE} bytes`);
    }
    return bytes;
  });
}
