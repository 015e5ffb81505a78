import type { Resource } from '@medplum/fhirtypes';

/**
 * The storage port. Both engines (embedded lmdb+mingo, MongoDB) implement it and both receive
 * the same MongoDB query documents, so every query MongoDB would get is exercised by the tests.
 *
 * Versioning follows FHIR R4 §3.1.0.4 "Version tracking" (https://hl7.org/fhir/R4/http.html#versioning):
 * the store assigns versionId ("1", "2", …) and meta.lastUpdated inside the atomic commit.
 */

/** Search index values computed at write time, keyed by SearchParameter code. */
export type IndexValues = Record<string, unknown>;

/**
 * The document shape both engines persist for the current version of a resource.
 * Query documents (`SearchQuery.filter`) are written against these field names.
 */
export interface StoredDocument {
  resourceType: string;
  id: string;
  versionId: string;
  /** ISO instant, equal to resource.meta.lastUpdated. */
  lastUpdated: string;
  /** Milliseconds since the epoch of lastUpdated, for range queries and sorting. */
  lastUpdatedMs: number;
  deleted: boolean;
  /** Absent on a deletion tombstone. */
  resource?: Resource;
  idx: IndexValues;
}

/** One version of a resource as read back from the store. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  resource?: Resource;
  /**
   * The resource's JSON text, when the engine keeps it (equal to JSON.stringify(resource)), so
   * a read can be answered without decoding and re-encoding the resource.
   */
  json?: string;
}

/**
 * - create: the id must not exist yet (not even as a tombstone) → FhirError('conflict').
 * - update: writes the next version; creates version "1" when absent (update-as-create is a
 *   policy decided above the store); revives a deleted resource with the next version number.
 * - delete: writes a tombstone as the next version. Deleting an absent or already deleted
 *   resource writes nothing and returns a tombstone carrying the current versionId ("0" if it
 *   never existed).
 */
export interface WriteOp {
  kind: 'create' | 'update' | 'delete';
  resourceType: string;
  id: string;
  /** Required for create/update; meta.versionId and meta.lastUpdated are set by the store. */
  resource?: Resource;
  /**
   * Optimistic concurrency precondition, checked atomically with the write:
   * `null` = the resource must not currently exist (or be deleted); a string = the current
   * versionId must equal it; undefined = no precondition.
   */
  expectedVersionId?: string | null;
  /** Search index values for the new version (ignored for delete). */
  index?: IndexValues;
}

export interface CommitRequest {
  ops: WriteOp[];
  /** ISO instant used as meta.lastUpdated for every version written by this commit. */
  now: string;
}

/** A sort key over a StoredDocument field; see SearchQuery.sort for the ordering rules. */
export type SortKey = [field: string, direction: 1 | -1];

export interface SearchQuery {
  resourceType: string;
  /**
   * A MongoDB query document over StoredDocument fields other than `resource` (id, versionId,
   * lastUpdated, lastUpdatedMs, deleted, idx.*): search runs on index values, never on the
   * resource body. The store adds `deleted: false`.
   */
  filter: Record<string, unknown>;
  /**
   * Sort keys over StoredDocument fields, with MongoDB's rules: a missing value sorts lowest,
   * an array field sorts by its smallest element ascending and its largest descending. When the
   * list does not contain `id`, the store appends `['id', 1]` as the tie-break, so the order is
   * total and a keyset position is unambiguous.
   */
  sort?: SortKey[];
  /**
   * Keyset position (exclusive): the `sortValues` of the row to start after, aligned with the
   * effective sort (including the trailing `id`). Paging with this instead of `skip` keeps pages
   * stable while other clients write.
   */
  after?: unknown[];
  /** Offset paging; kept for callers that need it (history-style scans). Prefer `after`. */
  skip?: number;
  limit: number;
  /** When true, `total` is the number of matches of `filter`, ignoring after/skip/limit. */
  total?: boolean;
  /** Return matches without resource bodies (resourceType, id, versionId, lastUpdated only). */
  idsOnly?: boolean;
  /** idx fields (SearchParameter codes) to return with each match as `index`. */
  indexFields?: string[];
  /**
   * An idx field (SearchParameter code) that the filter holds, at its top level, to exact string
   * values (`{'idx.subject': {$in: refs}}`, the conjunct of a Bulk Data patient batch): each
   * match's `matched` lists which of those values it carries. Cheaper than `indexFields` where
   * that is all the caller needs: the embedded engine answers from its postings without reading
   * the match's search document. A filter without such a conjunct is a caller's error (thrown).
   */
  matchedOf?: string;
}

/** One search hit. */
export interface SearchMatch extends StoredVersion {
  /** The effective sort's values for this row (including the trailing id): a keyset position. */
  sortValues: unknown[];
  /** The requested `indexFields`, when asked for. */
  index?: IndexValues;
  /** With `matchedOf`: the values of that conjunct the match carries, each once (in no set order). */
  matched?: string[];
}

/** A current version and whether the filter a gated read asked about holds for it. */
export interface CurrentMatch {
  version: StoredVersion;
  matches: boolean;
}

export interface SearchResult {
  resources: SearchMatch[];
  total?: number;
}

export interface HistoryQuery {
  resourceType: string;
  /** Absent for type-level history. */
  id?: string;
  /** Only versions with lastUpdated at or after this instant (FHIR `_since`). */
  sinceMs?: number;
  skip?: number;
  limit: number;
}

export interface HistoryResult {
  /** Newest first. */
  entries: StoredVersion[];
  total: number;
}

/** One document for updateIndex: its new index values and, for a relabel, its new body. */
export interface UpdateIndexEntry {
  id: string;
  index: IndexValues;
  /** The same version with new meta labels (meta.versionId required). */
  resource?: Resource;
}

export interface ResourceStore {
  /** Engine name for logs and the CapabilityStatement. */
  readonly engine: 'embedded' | 'mongodb';
  /** Create indexes / open files; must be called once before use. */
  init(): Promise<void>;
  /** The current version, including a deletion tombstone (deleted: true), or undefined if never created. */
  readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined>;
  readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined>;
  /**
   * Applies every op atomically: all versions become durable together or none does.
   * Resolves only after the data is durable (fsync'd / majority-acknowledged).
   * Throws FhirError('precondition-failed') when an expectedVersionId does not hold,
   * FhirError('conflict') when a create's id already exists without a precondition.
   */
  commit(req: CommitRequest): Promise<StoredVersion[]>;
  search(query: SearchQuery): Promise<SearchResult>;
  history(query: HistoryQuery): Promise<HistoryResult>;
  /** Every current, non-deleted document of a type (for reindexing and export). */
  scan(resourceType: string): AsyncIterable<StoredDocument>;
  /**
   * Replaces the index values of current documents (reindex); does not create versions.
   * With `resource`, also replaces the stored body of that same version (relabel: a change of
   * meta.tag/meta.security only, which FHIR's $meta-add makes without a new version,
   * https://hl7.org/fhir/R4/resource-operation-meta-add.html). `resource.meta.versionId` names
   * the version: its history record gets the new body, and the current document (body and
   * index values) only while it is still that version — a write that came in between wins.
   * id, versionId and meta.lastUpdated stay as stored. Entries for absent or deleted resources
   * are skipped.
   */
  updateIndex(resourceType: string, entries: UpdateIndexEntry[]): Promise<void>;
  /**
   * Small durable settings that describe the stored data itself (e.g. the fingerprint of the
   * search definitions the index values were computed with), kept with the data so every
   * process sharing the store sees the same answer.
   */
  readSetting(key: string): Promise<string | undefined>;
  /**
   * The current version of (type, id) with whether it is live and matches `filter` (undefined
   * when absent): lets a gated read test its clause on one document without a search (consent
   * on read-by-id). `matches` is decided on the values of the very version returned, never on a
   * successor's written in between (same semantics as search({filter: {$and: [{id}, filter]}})
   * for that version), so a version one clause denies is never shown because a newer one is
   * permitted.
   */
  readCurrentMatching?(resourceType: string, id: string, filter: Record<string, unknown>): Promise<CurrentMatch | undefined>;
  writeSetting(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}
