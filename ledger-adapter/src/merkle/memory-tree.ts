import { appendLeaf, frontierRoot, type Frontier } from './frontier.js';
import type { NodeReader } from './proofs.js';

/**
 * A whole tree kept in memory (every complete-subtree node), for tests, benchmarks and
 * offline tools. The durable log is MerkleLog.
 */
export class MemoryTree implements NodeReader {
  private readonly levels: Uint8Array[][] = [];
  private readonly frontier: Frontier = [];
  private count = 0;

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const h of leafHashes) this.append(h);
  }

  get size(): number {
    return this.count;
  }

  append(leafHash: Uint8Array): number {
    const index = this.count;
    for (const n of appendLeaf(this.frontier, index, leafHash)) {
      (this.levels[n.level] ??= [])[n.index] = n.hash;
    }
    this.count++;
    return index;
  }

  root(): Uint8Array {
    return frontierRoot(this.frontier);
  }

  node(level: number, index: number): Uint8Array {
    const hash = this.levels[level]?.[index];
    if (!hash) throw new RangeError(`no complete subtree at level ${level}, index ${index}`);
    return hash;
  }
}
