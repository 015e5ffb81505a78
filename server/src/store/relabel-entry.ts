import type { Resource } from '@medplum/fhirtypes';
import type { UpdateIndexEntry } from './resource-store.js';

/** The version an updateIndex entry's new body belongs to, and the body to store. */
export interface RelabelTarget {
  readonly versionId: string;
  /** meta.lastUpdated of that version: an engine replaces a stored version only when it matches. */
  readonly lastUpdated: string;
  readonly resource: Resource;
}

/**
 * Checks an updateIndex entry that carries a resource (ResourceStore.updateIndex) and names
 * the version it rewrites. Throws on a resource of another type or id, or one without
 * meta.versionId and meta.lastUpdated: that is a caller's bug, not data to store.
 */
export function relabelTarget(resourceType: string, entry: UpdateIndexEntry & { resource: Resource }): RelabelTarget {
  const r = entry.resource;
  const where = `updateIndex ${resourceType}/${entry.id}`;
  if (r.resourceType !== resourceType) throw new Error(`${where}: the resource is a ${r.resourceType}`);
  if (r.id !== undefined && r.id !== entry.id) throw new Error(`${where}: the resource has id ${r.id}`);
  const versionId = r.meta?.versionId;
  const lastUpdated = r.meta?.lastUpdated;
  if (!versionId || !lastUpdated) throw new Error(`${where}: the resource must carry the meta.versionId and meta.lastUpdated of the version it replaces`);
  return { versionId, lastUpdated, resource: { ...r, id: entry.id } as Resource };
}
