/**
 * An in-memory Fabric world state for one chaincode namespace: committed values with the
 * version (block, transaction) that wrote them, as the peer's state database keeps them for
 * MVCC validation. Only committed write sets change it; simulation never does.
 */

export interface KeyVersion {
  blockNum: number;
  txNum: number;
}

export interface VersionedValue {
  value: Uint8Array;
  version: KeyVersion;
}

/** Keys starting with U+0000 are Fabric's composite-key namespace: never part of a simple-key range. */
const COMPOSITE_KEY_NS = '\u0000';

/** Fabric's state database orders keys by their UTF-8 bytes (LevelDB), not by UTF-16 code units. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class WorldState {
  private readonly values = new Map<string, VersionedValue>();
  /** The keys in byte order, kept sorted on every apply so that ranges need no sort. */
  private readonly sorted: string[] = [];

  get(key: string): VersionedValue | undefined {
    const v = this.values.get(key);
    return v && { value: Uint8Array.from(v.value), version: { ...v.version } };
  }

  /** Simple keys in [startKey, endKey) ascending ('' endKey = no bound), as getStateByRange. */
  range(startKey: string, endKey: string): Array<{ key: string } & VersionedValue> {
    const out: Array<{ key: string } & VersionedValue> = [];
    for (let i = this.lowerBound(startKey); i < this.sorted.length; i++) {
      const key = this.sorted[i];
      if (endKey !== '' && compareKeys(key, endKey) >= 0) break;
      if (key.startsWith(COMPOSITE_KEY_NS)) continue;
      const v = this.values.get(key) as VersionedValue;
      out.push({ key, value: Uint8Array.from(v.value), version: { ...v.version } });
    }
    return out;
  }

  /** Applies a committed write set: null deletes. */
  apply(writes: ReadonlyMap<string, Uint8Array | null>, version: KeyVersion): void {
    for (const [key, value] of writes) {
      const i = this.lowerBound(key);
      const present = this.sorted[i] === key;
      if (value === null) {
        if (present) {
          this.sorted.splice(i, 1);
          this.values.delete(key);
        }
        continue;
      }
      if (!present) this.sorted.splice(i, 0, key);
      this.values.set(key, { value: Uint8Array.from(value), version: { ...version } });
    }
  }

  /**
   * The keys of a read set whose committed version is no longer the one read (null = read as
   * absent): what MVCC validation invalidates a transaction for.
   */
  staleKeys(reads: ReadonlyMap<string, KeyVersion | null>): string[] {
    const stale: string[] = [];
    for (const [key, read] of reads) {
      const now = this.values.get(key)?.version ?? null;
      const same = read === null || now === null ? read === now : read.blockNum === now.blockNum && read.txNum === now.txNum;
      if (!same) stale.push(key);
    }
    return stale;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
