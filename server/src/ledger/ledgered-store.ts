import type {
  CommitRequest,
  HistoryQuery,
  HistoryResult,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredDocument,
  StoredVersion,
  UpdateIndexEntry,
} from '../store/resource-store.js';
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
export class LedgeredStore implements ResourceStore {
  readonly engine: ResourceStore['engine'];

  constructor(
    private readonly base: ResourceStore,
    private readonly log: VersionLog,
  ) {
    this.engine = base.engine;
    if (base.matchesCurrent) this.matchesCurrent = (t, id, f) => (base.matchesCurrent as NonNullable<ResourceStore['matchesCurrent']>)(t, id, f);
  }

  readonly matchesCurrent?: ResourceStore['matchesCurrent'];

  init(): Promise<void> {
    return this.base.init();
  }

  close(): Promise<void> {
    return this.base.close();
  }

  readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.base.readCurrent(resourceType, id);
  }

  readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return this.base.readVersion(resourceType, id, versionId);
  }

  search(query: SearchQuery): Promise<SearchResult> {
    return this.base.search(query);
  }

  history(query: HistoryQuery): Promise<HistoryResult> {
    return this.base.history(query);
  }

  scan(resourceType: string): AsyncIterable<StoredDocument> {
    return this.base.scan(resourceType);
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.base.readSetting(key);
  }

  writeSetting(key: string, value: string): Promise<void> {
    return this.base.writeSetting(key, value);
  }

  async commit(req: CommitRequest): Promise<StoredVersion[]> {
    const versions = await this.base.commit(req);
    // A delete of an absent or already deleted resource writes nothing: no new leaf either.
    await this.log.appendVersions(versions.filter((v) => v.versionId !== '0' && !(v.deleted && this.log.has(v))));
    return versions;
  }

  async updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void> {
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
