import type { MerkleLog } from '../../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../../ledger-adapter/src/merkle/leaf.js';
import type { StoredVersion } from '../store/resource-store.js';
import { leafRecordOf, versionKey } from './leaf-record.js';

/**
 * The server's side of the Merkle log: turns stored versions into leaves (salted hashes of
 * their canonical JSON, leaf-record.ts) and appends them. The log group-commits concurrent
 * appends (one fsync for many requests); append resolves only once the leaves are durable.
 */
export class VersionLog {
  /** Newest lastUpdated (ms) appended by this process: where the next start's recovery looks from. */
  newestAppendedMs = 0;

  constructor(readonly log: MerkleLog) {}

  has(v: Pick<StoredVersion, 'resourceType' | 'id' | 'versionId'>): boolean {
    return this.log.leafIndicesOf(versionKey(v.resourceType, v.id, v.versionId)).length > 0;
  }

  async appendVersions(versions: readonly StoredVersion[]): Promise<number[]> {
    if (versions.length === 0) return [];
    const entries = versions.map((v) => {
      const salt = newSalt();
      const record = leafRecordOf(v);
      return { key: record.key, salt, leafHash: leafHashOf(salt, record) };
    });
    const indices = await this.log.append(entries);
    for (const v of versions) {
      const ms = Date.parse(v.lastUpdated);
      if (ms > this.newestAppendedMs) this.newestAppendedMs = ms;
    }
    return indices;
  }

  /** The latest leaf of a version, if any. */
  latestLeafOf(v: Pick<StoredVersion, 'resourceType' | 'id' | 'versionId'>): number | undefined {
    const all = this.log.leafIndicesOf(versionKey(v.resourceType, v.id, v.versionId));
    return all.length > 0 ? all[all.length - 1] : undefined;
  }
}
