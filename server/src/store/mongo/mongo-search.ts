import type { SearchQuery, SortKey, StoredDocument } from '../resource-store.js';
import { effectiveSort, keysetFilter } from '../keyset.js';

/**
 * How a port search (FHIR R4 §3.1.1, https://hl7.org/fhir/R4/search.html) becomes one MongoDB
 * `find` and one `countDocuments`. Pure, so the exact documents sent to the server are
 * unit-tested without one.
 */
export interface MongoSearchPlan {
  /** The page's filter: the caller's filter, live documents only, and the keyset position. */
  filter: Record<string, unknown>;
  /** What `total` counts: the caller's filter and liveness, never the position or the page. */
  countFilter: Record<string, unknown>;
  /** `id` becomes `_id` (same value) so the primary-key index serves the tie-break. */
  sort: Array<[string, 1 | -1]>;
  /** Inclusion projection: port fields, the sort fields (for sortValues) and the asked idx fields. */
  projection: Record<string, 1>;
}

const toMongoField = (field: string): string => (field === 'id' ? '_id' : field);

export function mongoSearchPlan(query: SearchQuery): MongoSearchPlan {
  const sort = effectiveSort(query.sort);
  const live = { deleted: false };
  const countFilter = { $and: [query.filter, live] };
  const filter = query.after ? { $and: [query.filter, live, keysetFilter(sort, query.after, toMongoField)] } : countFilter;
  return {
    filter,
    countFilter,
    sort: sort.map(([field, dir]): [string, 1 | -1] => [toMongoField(field), dir]),
    projection: projectionFor(query, sort),
  };
}

const VERSION_FIELDS = ['resourceType', 'id', 'versionId', 'lastUpdated', 'deleted'] satisfies Array<keyof StoredDocument>;

function projectionFor(query: SearchQuery, sort: SortKey[]): Record<string, 1> {
  const paths = [...VERSION_FIELDS, ...(query.idsOnly ? [] : ['resource']), ...sort.map(([f]) => f), ...(query.indexFields ?? []).map((f) => `idx.${f}`), ...(query.matchedOf ? [`idx.${query.matchedOf}`] : [])];
  // MongoDB refuses a projection naming both a path and its parent ("path collision"); the
  // parent alone returns everything the child would.
  const unique = [...new Set(paths)].sort();
  const kept = unique.filter((p) => !unique.some((q) => q !== p && p.startsWith(`${q}.`)));
  return Object.fromEntries(kept.map((p) => [p, 1]));
}
