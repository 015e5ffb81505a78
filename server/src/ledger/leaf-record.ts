import type { Resource } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.js';

/**
 * What one leaf of the Merkle log stands for: one resource version (AuditEvents included) as
 * the store holds it. The leaf hashes the canonical JSON (RFC 8785) of this record with a random
 * salt (ledger-adapter/src/merkle/leaf.ts), so the record's key, time and whole body are bound
 * and guessable content cannot be confirmed from the hash alone.
 *
 * A version whose labels the server rewrote in place (consent/relabel.ts, $meta-add semantics)
 * gets a further leaf for the same key: the latest leaf of a key describes the stored body.
 */
export interface LeafRecord {
  readonly format: 'custodian-leaf/v1';
  /** `Type/id/_history/versionId`. */
  readonly key: string;
  readonly lastUpdated: string;
  readonly deleted: boolean;
  /** Absent on a deletion tombstone. */
  readonly resource?: Resource;
}

export const versionKey = (resourceType: string, id: string, versionId: string): string => `${resourceType}/${id}/_history/${versionId}`;

export function leafRecordOf(v: StoredVersion): LeafRecord {
  return {
    format: 'custodian-leaf/v1',
    key: versionKey(v.resourceType, v.id, v.versionId),
    lastUpdated: v.lastUpdated,
    deleted: v.deleted,
    ...(v.deleted || !v.resource ? {} : { resource: v.resource }),
  };
}

/** `Type/id/_history/v` → its parts, or undefined for anything else. */
export function parseVersionKey(key: string): { resourceType: string; id: string; versionId: string } | undefined {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/([0-9]+)$/.exec(key);
  return m ? { resourceType: m[1] as string, id: m[2] as string, versionId: m[3] as string } : undefined;
}
