import { EMPTY_ROOT, HASH_SIZE, bytesEqual, isHash, nodeHash } from './hash.js';

/**
 * RFC 9162 Merkle proofs as small stateless functions.
 *
 * Generation (§2.1.3.1 PATH, §2.1.4.1 PROOF/SUBPROOF) reads hashes through a NodeReader that
 * only knows complete subtrees. A subtree of the RFC tree that is cut short by the right
 * edge of the tree is folded from the complete subtrees it is made of, so every function
 * reads O(log n) nodes, never the leaves.
 *
 * Verification (§2.1.3.2, §2.1.4.2) never throws: garbage in gives `{ ok: false, reason }`.
 * Sizes and indices are JavaScript numbers, exact up to 2^53 - 1; the bit operations of the
 * RFC are done with arithmetic (`% 2`, `/ 2`) so they stay exact above 2^32.
 */

/** Hashes of complete subtrees: node (level, index) covers leaves [index·2^level, (index+1)·2^level). */
export interface NodeReader {
  node(level: number, index: number): Uint8Array;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

const OK: Verdict = Object.freeze({ ok: true });
const fail = (reason: string): Verdict => ({ ok: false, reason });

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** The largest power of two strictly below n (n ≥ 2): the RFC's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * MTH of leaves [start, end), where start is a multiple of a power of two ≥ end - start (true of
 * every subtree the RFC's recursion visits). Reads one node per set bit of end - start and
 * folds them right to left.
 */
function subtreeHash(reader: NodeReader, start: number, end: number): Uint8Array {
  let len = end - start;
  let level = 0;
  let width = 1;
  while (width * 2 <= len) {
    width *= 2;
    level++;
  }
  const parts: Uint8Array[] = [];
  let pos = start;
  while (len > 0) {
    if (len >= width) {
      parts.push(reader.node(level, pos / width));
      pos += width;
      len -= width;
    }
    width /= 2;
    level--;
  }
  let hash = parts[parts.length - 1];
  for (let i = parts.length - 2; i >= 0; i--) hash = nodeHash(parts[i], hash);
  return hash;
}

function checkSize(name: string, n: number): void {
  if (!isSize(n)) throw new RangeError(`${name} must be a non-negative safe integer, got ${String(n)}`);
}

/** MTH(D[0:size]) (RFC 9162 §2.1.1). */
export function rootAt(reader: NodeReader, size: number): Uint8Array {
  checkSize('size', size);
  if (size === 0) return Buffer.from(EMPTY_ROOT);
  return subtreeHash(reader, 0, size);
}

/** PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), ordered from the leaf's sibling up to the root's child. */
export function inclusionProof(reader: NodeReader, index: number, size: number): Uint8Array[] {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw new RangeError(`index ${index} is not below size ${size}`);
  const topDown: Uint8Array[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index - start < k) {
      topDown.push(subtreeHash(reader, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeHash(reader, start, start + k));
      start += k;
    }
  }
  return topDown.reverse();
}

/** PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), for 0 < size1 ≤ size2; empty when the sizes are equal. */
export function consistencyProof(reader: NodeReader, size1: number, size2: number): Uint8Array[] {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 === 0) throw new RangeError('a consistency proof needs size1 > 0');
  if (size1 > size2) throw new RangeError(`size1 ${size1} is above size2 ${size2}`);
  const topDown: Uint8Array[] = [];
  let m = size1;
  let start = 0;
  let end = size2;
  let whole = true; // SUBPROOF's b: still on the path where D[0:m] is the old tree itself
  while (m !== end - start) {
    const k = splitPoint(end - start);
    if (m <= k) {
      topDown.push(subtreeHash(reader, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeHash(reader, start, start + k));
      start += k;
      m -= k;
      whole = false;
    }
  }
  if (!whole) topDown.push(subtreeHash(reader, start, end));
  return topDown.reverse();
}

function proofShape(proof: unknown): string | undefined {
  if (!Array.isArray(proof)) return 'the proof is not an array';
  for (let i = 0; i < proof.length; i++) {
    if (!isHash(proof[i])) return `proof element ${i} is not a ${HASH_SIZE}-byte hash`;
  }
  return undefined;
}

/** RFC 9162 §2.1.3.2: is `leafHash` the leaf at `index` of the tree of `size` leaves whose root is `root`? */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Verdict {
  if (!isSize(index) || !isSize(size)) return fail('index and size must be non-negative safe integers');
  if (index >= size) return fail(`index ${index} is not below tree size ${size}`);
  if (!isHash(leafHash)) return fail(`the leaf hash is not ${HASH_SIZE} bytes`);
  if (!isHash(root)) return fail(`the root hash is not ${HASH_SIZE} bytes`);
  const shape = proofShape(proof);
  if (shape) return fail(shape);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return fail('the proof is longer than the tree is high');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return fail('the proof is shorter than the path to the root');
  if (!bytesEqual(r, root)) return fail('the proof leads to a different root');
  return OK;
}

/**
 * RFC 9162 §2.1.4.2: is the tree of `size2` leaves with root `root2` an append-only extension
 * of the tree of `size1` leaves with root `root1`? Proofs are defined for 0 < size1 ≤ size2:
 * a proof from the empty tree proves nothing and is refused, as are equal sizes with
 * different roots or a non-empty proof.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): Verdict {
  if (!isSize(size1) || !isSize(size2)) return fail('sizes must be non-negative safe integers');
  if (size2 < size1) return fail(`size2 ${size2} is below size1 ${size1}`);
  if (size1 === 0) return fail('a consistency proof from the empty tree proves nothing');
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) return fail('roots must be byte arrays');
  const shape = proofShape(proof);
  if (shape) return fail(shape);
  if (size1 === size2) {
    if (proof.length > 0) return fail('equal sizes need an empty proof');
    return bytesEqual(root1, root2) ? OK : fail('equal sizes but different roots');
  }
  if (proof.length === 0) return fail('the proof is empty');
  if (!isHash(root1) || !isHash(root2)) return fail(`roots must be ${HASH_SIZE} bytes`);
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (let i = 1; i < path.length; i++) {
    const c = path[i];
    if (sn === 0) return fail('the proof is longer than expected');
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return fail('the proof is shorter than expected');
  if (!bytesEqual(fr, root1)) return fail('the proof does not lead to root1');
  if (!bytesEqual(sr, root2)) return fail('the proof does not lead to root2');
  return OK;
}
