import type { Resource } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.js';

/** One version a request read or wrote, kept until the request's AuditEvents are built. */
export interface TracedVersion {
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: string;
  /** The body, parsed only if the audit needs the patients it concerns. */
  readonly body: () => Resource | undefined;
}

/**
 * What one request touched, filled in by the scoped store (auth/scoped-store.ts) as data passes
 * through it, and read by the audit pipeline once the response is ready: the versions shown or
 * written, and those consent withheld from a direct read (a consent denial is audited even
 * though the client only sees a 404).
 */
export class AccessTrace {
  readonly shown = new Map<string, TracedVersion>();
  readonly withheld = new Map<string, TracedVersion>();
  /** Patients the request named (a `patient=` search, `Patient/X/$everything` …), even when nothing came back. */
  readonly namedPatients = new Set<string>();

  show(v: StoredVersion): void {
    if (v.deleted) return;
    put(this.shown, v);
  }

  /** A version the request wrote (a deletion's tombstone included). */
  wrote(v: StoredVersion): void {
    put(this.shown, v);
  }

  withhold(v: StoredVersion): void {
    put(this.withheld, v);
  }
}

function put(map: Map<string, TracedVersion>, v: StoredVersion): void {
  const key = `${v.resourceType}/${v.id}/${v.versionId}`;
  if (map.has(key)) return;
  map.set(key, { resourceType: v.resourceType, id: v.id, versionId: v.versionId, body: () => v.resource });
}
