import { ForwardingStore } from '../store/forwarding-store.js';
import type { CommitRequest, ResourceStore, StoredVersion, UpdateIndexEntry } from '../store/resource-store.js';
import type { VersionLog } from './version-log.js';

/**
 * The store as the rest of the server sees it once the ledger is on: every version a commit
 * writes (resources and AuditEvents alike) becomes a leaf of the Merkle log before commit()
 * resolves, so a 2xx is only ever sent for data whose leaf is durable. A relabel (updateIndex
 * with a new body for the same version) appends a further leaf for that version.
 *
 * The store commit comes first: a crash between the two leaves versions without leaves, which
 * the next start appends (ledger-recovery.ts); the opposite order would leave leaves for data
 * that was never stored, indistinguishable from a deletion.
 */
export class LedgeredStore extends ForwardingStore {
  constructor(
    base: ResourceStore,
    private readonly log: VersionLog,
  ) {
    super(base);
  }

  override async commit(req: CommitRequest): Promise<StoredVersion[]> {
    const versions = await this.base.commit(req);
    // A delete of an absent or already deleted resource writes nothing: no new leaf either.
    await this.log.appendVersions(versions.filter((v) => v.versionId !== '0' && !(v.deleted && this.log.has(v))));
    return versions;
  }

  override async updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void> {
    await this.base.updateIndex(resourceType, entries);
    const rewritten: StoredVersion[] = [];
    for (const e of entries) {
      const versionId = e.resource?.meta?.versionId;
      if (!versionId) continue;
      const v = await this.base.readVersion(resourceType, e.id, versionId);
      if (v && !v.deleted) rewritten.push(v);
    }
    if (rewritten.length > 0) await this.log.appendVersions(rewritten);
  }
}
