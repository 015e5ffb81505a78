import { createHash } from 'node:crypto';

/**
 * RFC 9162 §2.1.1 Merkle tree hashing with SHA-256 (the same tree as RFC 6962):
 *
 *   leaf hash  = SHA-256(0x00 || leaf input)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty tree = SHA-256("")
 *
 * The 0x00 / 0x01 prefixes keep leaves and interior nodes in separate domains, so a node can
 * never be passed off as a leaf (second-preimage protection).
 */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/**
 * Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1, MTH({})).
 * Shared: treat as read-only (typed arrays cannot be frozen); functions returning the
 * empty root return a copy.
 */
export const EMPTY_ROOT: Uint8Array = createHash('sha256').digest();

export function leafHash(input: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(input).digest();
}

/**
 * leafHash of the concatenation of `parts` (strings as UTF-8), without building it: for a
 * leaf input made of a salt and a long text, this saves copying the text twice.
 */
export function leafHashOfParts(...parts: ReadonlyArray<Uint8Array | string>): Uint8Array {
  const h = createHash('sha256').update(LEAF_PREFIX);
  for (const p of parts) {
    if (typeof p === 'string') h.update(p, 'utf8');
    else h.update(p);
  }
  return h.digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** Constant-length byte comparison (no early exit on the first differing byte). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}
