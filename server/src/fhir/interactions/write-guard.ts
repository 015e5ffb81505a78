import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';

/** FHIR ids (R4 §2.24.0.1 "id"): 1–64 of [A-Za-z0-9-.]. */
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Resource types only the server writes: AuditEvent records what happened and may never be
 * created, changed or removed by a client.
 */
export const SERVER_WRITTEN_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

export function assertTarget(defs: Definitions, type: string, id: string | undefined): void {
  if (!defs.isResourceType(type)) throw new FhirError('unknown-type', `Unknown resource type '${type}'`);
  if (id !== undefined && !ID.test(id)) throw new FhirError('bad-request', `Invalid id '${id}'`);
}

/** Every write path (single interactions and Bundle entries) passes here. */
export function assertWritable(defs: Definitions, type: string, id: string | undefined, method: string): void {
  assertTarget(defs, type, id);
  if (SERVER_WRITTEN_TYPES.has(type)) {
    throw new FhirError('method-not-allowed', `${type} is written only by the server; ${method} is not allowed`);
  }
  if (id !== undefined && defs.projectResources.some((r) => r.resourceType === type && r.id === id)) {
    throw new FhirError('method-not-allowed', `${type}/${id} is a conformance resource managed by this server (fhir-profiles/)`);
  }
}
