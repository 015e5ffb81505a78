import type { Db, IndexDescription } from 'mongodb';
import { collectionNames } from './mongo-documents.js';

/**
 * Indexes every resource type needs. Created per type the first time this process writes it
 * (and at start-up for every type that already has collections), not for all 146 R4 types:
 * most deployments use a handful, and empty collections per type would only add clutter.
 * Search-parameter indexes on `idx.*` are workload-specific and not created here.
 */

export const CURRENT_INDEXES: IndexDescription[] = [
  // Type-level scans and `_lastUpdated` sorts skip tombstones without reading them.
  { key: { deleted: 1, lastUpdatedMs: -1 }, name: 'deleted_lastUpdated' },
];

export const HISTORY_INDEXES: IndexDescription[] = [
  // Instance history, newest first. The trailing versionNo lets the index deliver the full
  // history order (several versions can share one instant) instead of an in-memory sort.
  { key: { id: 1, lastUpdatedMs: -1, versionNo: -1 }, name: 'id_lastUpdated_version' },
  // Type history and `_since`, newest first, with the same full order.
  { key: { lastUpdatedMs: -1, versionNo: -1, id: 1 }, name: 'lastUpdated_version_id' },
];

/** Remembers which types are indexed in this process; concurrent first uses share one request. */
export class IndexEnsurer {
  private readonly done = new Map<string, Promise<void>>();

  constructor(private readonly db: Db) {}

  ensure(resourceType: string): Promise<void> {
    let pending = this.done.get(resourceType);
    if (!pending) {
      pending = this.create(resourceType).catch((err: unknown) => {
        this.done.delete(resourceType);
        throw err;
      });
      this.done.set(resourceType, pending);
    }
    return pending;
  }

  /** createIndexes also creates the collections, so transactions never have to. */
  private async create(resourceType: string): Promise<void> {
    const names = collectionNames(resourceType);
    await this.db.collection(names.current).createIndexes(CURRENT_INDEXES);
    await this.db.collection(names.history).createIndexes(HISTORY_INDEXES);
  }
}
