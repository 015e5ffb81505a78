import type { Db, IndexDescription } from 'mongodb';
import { collectionNames } from './mongo-documents.js';

/**
 * Indexes every resource type needs. Created per type the first time this process writes it
 * (and at start-up for every type that already has collections), not for all 146 R4 types:
 * most deployments use a handful, and empty collections per type would only add clutter.
 *
 * Search (FHIR R4 §3.1.1, https://hl7.org/fhir/R4/search.html) filters on `idx.<code>` values
 * whose set depends on the SearchParameters loaded, so one wildcard index covers every path
 * under `idx` (MongoDB 4.2+), including token sub-fields (`idx.code.c`) that `$elemMatch` uses
 * and string prefixes that an anchored `$regex` scans as a range. The collection is per type,
 * so `resourceType` needs no index key; every query adds `deleted: false`, and every sort ends
 * with `_id`, hence the compound keys below.
 */

export const CURRENT_INDEXES: IndexDescription[] = [
  { key: { 'idx.$**': 1 }, name: 'idx_wildcard' },
  // Unfiltered or unselective searches in the default order (id) and keyset page walks:
  // `_id > position` on this index reads one page, not every match.
  { key: { deleted: 1, _id: 1 }, name: 'deleted_id' },
  // `_lastUpdated` filters and sorts in both directions, with the `_id` tie-break in the index
  // so MongoDB never sorts in memory.
  { key: { deleted: 1, lastUpdatedMs: 1, _id: 1 }, name: 'deleted_lastUpdated_asc_id' },
  { key: { deleted: 1, lastUpdatedMs: -1, _id: 1 }, name: 'deleted_lastUpdated_desc_id' },
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
