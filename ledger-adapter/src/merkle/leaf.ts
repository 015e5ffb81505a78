import { randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { leafHashOfParts } from './hash.js';

/**
 * Leaf format (custodian leaf v1). A third party recomputes a leaf hash from a record and
 * its salt as follows:
 *
 *   salt       = 32 bytes, random per leaf (crypto.randomBytes), kept with the leaf and
 *                handed out in receipts
 *   canonical  = RFC 8785 (JCS) serialization of the record, encoded as UTF-8, no BOM,
 *                no trailing newline
 *   leaf input = salt || canonical                              (32 + len(canonical) bytes)
 *   leaf hash  = SHA-256(0x00 || leaf input)                    (RFC 9162 §2.1.1)
 *
 * Example, with salt = 32 zero bytes and record {"b":1,"a":"x"}:
 *   canonical  = {"a":"x","b":1}
 *   leaf hash  = SHA-256(0x00 || 0x00×32 || 7b2261223a2278222c2262223a317d)
 *
 * The salt makes the leaf hash useless for guessing: without it, anyone could hash candidate
 * records (a patient id, a date, a code) and compare them with the public leaves.
 */
export const SALT_SIZE = 32;

export function newSalt(): Uint8Array {
  return randomBytes(SALT_SIZE);
}

export function leafInputOf(salt: Uint8Array, record: unknown): Uint8Array {
  checkSalt(salt);
  const canonical = Buffer.from(canonicalJson(record), 'utf8');
  return Buffer.concat([salt, canonical]);
}

/**
 * leafHash(leafInputOf(salt, record)): the same bytes go to SHA-256, without building the leaf
 * input (every stored version and AuditEvent is hashed here, so the copies are worth saving).
 */
export function leafHashOf(salt: Uint8Array, record: unknown): Uint8Array {
  checkSalt(salt);
  return leafHashOfParts(salt, canonicalJson(record));
}

function checkSalt(salt: Uint8Array): void {
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_SIZE) {
    throw new TypeError(`leaf salt must be ${SALT_SIZE} bytes`);
  }
}
