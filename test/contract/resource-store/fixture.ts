import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { FhirError, type ErrorCode } from '../../../server/src/fhir/outcomes.js';
import type { IndexValues, ResourceStore, StoredVersion, WriteOp } from '../../../server/src/store/resource-store.js';

/** The store under test; the suite swaps it before every test. */
export interface StoreContext {
  readonly store: ResourceStore;
}

/** A fixed clock: tests pass `now` explicitly, so nothing depends on the wall clock. */
export const T0 = Date.UTC(2024, 0, 15, 9, 30, 0, 0);
export const ms = (step: number): number => T0 + step * 1000;
export const at = (step: number): string => new Date(ms(step)).toISOString();

export function patient(id: string, family = 'Doe'): Resource {
  return { resourceType: 'Patient', id, name: [{ family }] };
}

export function observation(id: string, value = 1): Resource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'test' },
    valueQuantity: { value },
  };
}

export function createOp(resource: Resource, index: IndexValues = {}, extra: Partial<WriteOp> = {}): WriteOp {
  return { kind: 'create', resourceType: resource.resourceType, id: resource.id!, resource, index, ...extra };
}

export function updateOp(resource: Resource, index: IndexValues = {}, extra: Partial<WriteOp> = {}): WriteOp {
  return { kind: 'update', resourceType: resource.resourceType, id: resource.id!, resource, index, ...extra };
}

export function deleteOp(resourceType: string, id: string, extra: Partial<WriteOp> = {}): WriteOp {
  return { kind: 'delete', resourceType, id, ...extra };
}

/** Commits ops and returns the single result (most tests write one version at a time). */
export async function commitOne(store: ResourceStore, op: WriteOp, step: number): Promise<StoredVersion> {
  const results = await store.commit({ ops: [op], now: at(step) });
  assert.equal(results.length, 1);
  return results[0];
}

/** An assert.rejects validator: the error must be a FhirError with this code. */
export function fhirError(code: ErrorCode): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof FhirError, `expected FhirError('${code}'), got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

export { deepFreeze } from '../../../server/src/fhir/clone-json.js';

export async function historyVersions(store: ResourceStore, resourceType: string, id?: string): Promise<string[]> {
  const h = await store.history({ resourceType, ...(id !== undefined ? { id } : {}), limit: 1000 });
  return h.entries.map((e) => (id !== undefined ? e.versionId : `${e.id}/${e.versionId}`));
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
