import { matchedFromIndex } from '../matched-values.js';
import type { Resource } from '@medplum/fhirtypes';
import { FhirError } from '../../fhir/outcomes.js';
import type { IndexValues, SearchMatch, SearchQuery, StoredDocument, StoredVersion } from '../resource-store.js';
import { sortValuesOf } from '../keyset.js';

/**
 * The shapes persisted in MongoDB and their mapping to the port's types. Pure, so the mapping
 * is unit-tested without a server.
 *
 *   <Type>          current version or tombstone: `_id` = id, plus every StoredDocument field
 *   <Type>_History  every version incl. tombstones: `_id` = "<id>/<versionId>"
 */

export interface CurrentDoc extends StoredDocument {
  _id: string;
}

export interface HistoryDoc {
  _id: string;
  id: string;
  versionId: string;
  /**
   * versionId as a number: history is ordered by version numerically ("10" after "9"), which a
   * string field cannot give without a collation that the indexes would then have to share.
   */
  versionNo: number;
  lastUpdated: string;
  lastUpdatedMs: number;
  deleted: boolean;
  resource?: Resource;
}

/** FHIR resource type names are letters only; anything else must never become a collection name. */
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;

export function collectionNames(resourceType: string): { current: string; history: string } {
  if (!RESOURCE_TYPE.test(resourceType)) throw new FhirError('unknown-type', `Unknown resource type ${JSON.stringify(resourceType)}`);
  return { current: resourceType, history: `${resourceType}_History` };
}

/** The resource type a collection holds, or undefined for collections this store does not own. */
export function resourceTypeOfCollection(name: string): string | undefined {
  const type = name.endsWith('_History') ? name.slice(0, -'_History'.length) : name;
  return RESOURCE_TYPE.test(type) ? type : undefined;
}

/** FHIR ids cannot contain "/" (R4 §2.26.0.2 id), so the pair is unambiguous. */
export function historyId(id: string, versionId: string): string {
  return `${id}/${versionId}`;
}

export function toCurrentDoc(doc: StoredDocument): CurrentDoc {
  return { _id: doc.id, ...doc };
}

export function toHistoryDoc(doc: StoredDocument): HistoryDoc {
  return {
    _id: historyId(doc.id, doc.versionId),
    id: doc.id,
    versionId: doc.versionId,
    versionNo: Number(doc.versionId),
    lastUpdated: doc.lastUpdated,
    lastUpdatedMs: doc.lastUpdatedMs,
    deleted: doc.deleted,
    ...(doc.resource ? { resource: doc.resource } : {}),
  };
}

export function currentToStoredDocument(doc: CurrentDoc): StoredDocument {
  const { _id, ...rest } = doc;
  return { ...rest, idx: rest.idx ?? {} };
}

type VersionFields = Pick<CurrentDoc, 'resourceType' | 'id' | 'versionId' | 'lastUpdated' | 'deleted' | 'resource'>;

/** Accepts a current document with or without `idx` (searches project it away). */
export function currentToStoredVersion(doc: VersionFields): StoredVersion {
  return {
    resourceType: doc.resourceType,
    id: doc.id,
    versionId: doc.versionId,
    lastUpdated: doc.lastUpdated,
    deleted: doc.deleted,
    ...(doc.resource ? { resource: doc.resource } : {}),
  };
}

/**
 * A projected search hit (see mongo-search.ts) as the port's SearchMatch. `matched`: the values
 * of the query's `matchedOf` conjunct (matchedValuesOf), when asked for.
 */
export function toSearchMatch(doc: VersionFields & { idx?: IndexValues }, query: SearchQuery, matched?: readonly string[]): SearchMatch {
  const hit: SearchMatch = { ...currentToStoredVersion(doc), sortValues: sortValuesOf(doc, query.sort) };
  if (query.idsOnly) delete hit.resource;
  if (query.indexFields) {
    const index: IndexValues = {};
    for (const f of query.indexFields) if (doc.idx?.[f] !== undefined) index[f] = doc.idx[f];
    hit.index = index;
  }
  if (matched) hit.matched = matchedFromIndex(matched, doc.idx, query.matchedOf as string);
  return hit;
}

export function historyToStoredVersion(resourceType: string, doc: HistoryDoc): StoredVersion {
  return {
    resourceType,
    id: doc.id,
    versionId: doc.versionId,
    lastUpdated: doc.lastUpdated,
    deleted: doc.deleted,
    ...(doc.resource ? { resource: doc.resource } : {}),
  };
}

/** Only the last write per id reaches the current collection when one commit touches an id twice. */
export function lastWritePerId(docs: StoredDocument[]): StoredDocument[] {
  const byId = new Map<string, StoredDocument>();
  for (const d of docs) byId.set(d.id, d);
  return [...byId.values()];
}

/** Newest first; versionNo orders versions written in the same instant; id makes paging stable. */
export const HISTORY_SORT: Array<[string, 1 | -1]> = [
  ['lastUpdatedMs', -1],
  ['versionNo', -1],
  ['id', 1],
];
