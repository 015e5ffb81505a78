import type {
  CommitRequest,
  CurrentMatch,
  HistoryQuery,
  HistoryResult,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredDocument,
  StoredVersion,
  UpdateIndexEntry,
} from './resource-store.js';

/**
 * A store that hands every call to the one it wraps: the base of the decorators that add one
 * concern to the port (consent decisions on write, ledger leaves on write), which override only
 * the methods that concern touches.
 */
export class ForwardingStore implements ResourceStore {
  readonly engine: ResourceStore['engine'];

  constructor(protected readonly base: ResourceStore) {
    this.engine = base.engine;
  }

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

  commit(req: CommitRequest): Promise<StoredVersion[]> {
    return this.base.commit(req);
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

  updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void> {
    return this.base.updateIndex(resourceType, entries);
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.base.readSetting(key);
  }

  writeSetting(key: string, value: string): Promise<void> {
    return this.base.writeSetting(key, value);
  }

  async readCurrentMatching(resourceType: string, id: string, filter: Record<string, unknown>): Promise<CurrentMatch | undefined> {
    if (this.base.readCurrentMatching) return this.base.readCurrentMatching(resourceType, id, filter);
    const version = await this.base.readCurrent(resourceType, id);
    if (!version) return undefined;
    if (version.deleted) return { version, matches: false };
    const hit = await this.base.search({ resourceType, filter: { $and: [{ id }, filter] }, limit: 1, idsOnly: true });
    return { version, matches: hit.resources[0]?.versionId === version.versionId };
  }
}
