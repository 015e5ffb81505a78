import type { Resource } from '@medplum/fhirtypes';
import type { Operation } from 'rfc6902';

/**
 * One requested change, as it arrives from a single REST interaction or a Bundle entry
 * (R4 §3.1.0, https://hl7.org/fhir/R4/http.html). Single writes and transactions share one
 * pipeline: resolve intents → rewrite references → validate and index → one atomic commit.
 */
export interface WriteIntent {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  resourceType: string;
  /** Target id for PUT/PATCH/DELETE by id. */
  id?: string;
  /** Search query (without `?`) for conditional create (If-None-Exist), update or delete. */
  condition?: string;
  resource?: Resource;
  patch?: Operation[];
  /** versionId from If-Match. */
  ifMatch?: string;
  /** Bundle entry fullUrl, used to resolve urn:uuid references within a transaction. */
  fullUrl?: string;
}

/** What resolving an intent decided, before anything is written. */
export type ResolvedIntent =
  | { kind: 'write'; intent: WriteIntent; op: 'create' | 'update' | 'delete'; id: string; expectedVersionId?: string | null; status: 200 | 201 }
  | { kind: 'noop'; intent: WriteIntent; id?: string; status: 200 | 204 | 404; reason: string };
