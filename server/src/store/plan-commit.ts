import type { Resource } from '@medplum/fhirtypes';
import { FhirError } from '../fhir/outcomes.js';
import type { CommitRequest, StoredDocument, StoredVersion } from './resource-store.js';
import { cloneJson } from '../fhir/clone-json.js';
import { extended } from '../fhir/extended.js';

export type CurrentLookup = (resourceType: string, id: string) => StoredVersion | undefined;

export interface PlannedWrite {
  doc: StoredDocument;
  version: StoredVersion;
}

/** Resources whose caller gave them to the store for good (handOverToStore). */
const handedOver = new WeakSet<object>();

/**
 * Marks a resource the caller built for one write and will never touch again, not even after
 * the commit: planCommit then keeps it instead of deep-copying it, and the stored version (the
 * one commit returns and the Merkle leaf hashes) shares its objects. For resources nobody else
 * holds, such as the AuditEvents the audit sink builds (one deep copy per event was ≈ a tenth of
 * an audited read's CPU). The resource must be JSON data with no `undefined` members, as a copy
 * through JSON would be.
 *
 * A mark rather than a WriteOp flag: it travels with the object itself, so a layer that
 * replaces the resource on its way to the engine (a copy, a rewritten body) loses the mark and
 * gets the usual copy; it can never make the store keep an object someone still holds.
 */
export function handOverToStore<T extends Resource>(resource: T): T {
  handedOver.add(resource);
  return resource;
}

/**
 * Works out every version a commit writes, checking all preconditions first, so an engine can
 * apply the plan knowing nothing will fail half-way. Pure apart from the lookup; shared by
 * engines that read inside their own transaction.
 */
export function planCommit(req: CommitRequest, lookup: CurrentLookup): { writes: PlannedWrite[]; results: StoredVersion[] } {
  const lastUpdatedMs = Date.parse(req.now);
  if (!Number.isFinite(lastUpdatedMs)) throw new Error(`commit: invalid 'now' ${req.now}`);
  // Later ops in the same commit see earlier ones.
  const working = new Map<string, StoredVersion | undefined>();
  const get = (type: string, id: string): StoredVersion | undefined => {
    const key = `${type}/${id}`;
    return working.has(key) ? working.get(key) : lookup(type, id);
  };
  const writes: PlannedWrite[] = [];
  const results: StoredVersion[] = [];

  for (const op of req.ops) {
    const cur = get(op.resourceType, op.id);
    const exists = cur !== undefined && !cur.deleted;
    if (op.expectedVersionId === null && exists) {
      throw new FhirError('precondition-failed', `${op.resourceType}/${op.id} already exists`);
    }
    if (typeof op.expectedVersionId === 'string' && (!exists || cur.versionId !== op.expectedVersionId)) {
      throw new FhirError(
        'precondition-failed',
        `Version conflict on ${op.resourceType}/${op.id}: expected version ${op.expectedVersionId}, current is ${exists ? cur.versionId : 'none'}`,
      );
    }
    if (op.kind === 'create' && cur !== undefined) {
      throw new FhirError('conflict', `${op.resourceType}/${op.id} already exists`);
    }
    if (op.kind === 'delete' && !exists) {
      results.push({
        resourceType: op.resourceType,
        id: op.id,
        versionId: cur?.versionId ?? '0',
        lastUpdated: cur?.lastUpdated ?? req.now,
        deleted: true,
      });
      continue;
    }
    const versionId = String(cur ? Number(cur.versionId) + 1 : 1);
    let resource: Resource | undefined;
    if (op.kind !== 'delete') {
      if (!op.resource) throw new Error(`commit: ${op.kind} of ${op.resourceType}/${op.id} without a resource`);
      // The stored version must not change when the caller later changes its object; a resource
      // handed over has no other holder, so it needs no copy.
      const copy = handedOver.has(op.resource) ? op.resource : cloneJson(op.resource);
      resource = extended(copy, { id: op.id, meta: extended(copy.meta, { versionId, lastUpdated: req.now }) }) as Resource;
    }
    const doc: StoredDocument = {
      resourceType: op.resourceType,
      id: op.id,
      versionId,
      lastUpdated: req.now,
      lastUpdatedMs,
      deleted: op.kind === 'delete',
      ...(resource ? { resource } : {}),
      idx: op.kind === 'delete' ? {} : (op.index ?? {}),
    };
    const version: StoredVersion = {
      resourceType: op.resourceType,
      id: op.id,
      versionId,
      lastUpdated: req.now,
      deleted: doc.deleted,
      ...(resource ? { resource } : {}),
    };
    working.set(`${op.resourceType}/${op.id}`, doc);
    writes.push({ doc, version });
    results.push(version);
  }
  return { writes, results };
}
