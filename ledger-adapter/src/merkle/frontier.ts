import { EMPTY_ROOT, nodeHash } from './hash.js';
import type { NodeReader } from './proofs.js';

/**
 * The right edge of a tree of `size` leaves: the roots of its complete subtrees, one per set
 * bit of `size` (`frontier[level]` is set exactly when bit `level` of size is 1). It is all an
 * append needs to compute the new complete-subtree nodes, so appending never reads the store.
 */
export type Frontier = Array<Uint8Array | undefined>;

export interface NewNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

/**
 * Appends the leaf hash as leaf number `size`, updating `frontier` in place, and returns the
 * complete-subtree nodes that now exist and did not before: the leaf itself (level 0) and
 * every parent it completes.
 */
export function appendLeaf(frontier: Frontier, size: number, leafHash: Uint8Array): NewNode[] {
  const out: NewNode[] = [{ level: 0, index: size, hash: leafHash }];
  let hash = leafHash;
  let level = 0;
  let index = size;
  while (index % 2 === 1) {
    const left = frontier[level];
    if (!left) throw new Error(`frontier has no node at level ${level} for size ${size}`);
    hash = nodeHash(left, hash);
    frontier[level] = undefined;
    level++;
    index = (index - 1) / 2;
    out.push({ level, index, hash });
  }
  frontier[level] = hash;
  return out;
}

/** MTH of the tree whose right edge this is: fold from the smallest subtree up. */
export function frontierRoot(frontier: Frontier): Uint8Array {
  let root: Uint8Array | undefined;
  for (const node of frontier) {
    if (node) root = root ? nodeHash(node, root) : node;
  }
  return root ?? Buffer.from(EMPTY_ROOT);
}

/** Rebuilds the frontier of a tree of `size` leaves from its stored nodes: one read per set bit. */
export function frontierOf(reader: NodeReader, size: number): Frontier {
  const frontier: Frontier = [];
  let width = 1;
  for (let level = 0; width <= size; level++, width *= 2) {
    if (Math.floor(size / width) % 2 === 1) frontier[level] = reader.node(level, Math.floor(size / width) - 1);
  }
  return frontier;
}
