import type { Resource } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.js';
import type { FhirResponse } from './fhir-request.js';
import { FhirError, okOutcome } from './outcomes.js';

export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

/** Parses `W/"3"` or `"3"` (If-Match) into a versionId. */
export function parseETag(value: string): string {
  const m = /^(?:W\/)?"([^"]+)"$/.exec(value.trim());
  if (!m) throw new FhirError('bad-request', `Malformed ETag '${value}': expected W/"<versionId>"`);
  return m[1] as string;
}

export function versionHeaders(v: StoredVersion): Record<string, string> {
  return { ETag: etag(v.versionId), 'Last-Modified': new Date(v.lastUpdated).toUTCString() };
}

/**
 * A 200 carrying a stored version. With the stored JSON at hand it is sent as is, and `body`
 * parses it only when something reads it (a batch entry, a spread): a plain read never does.
 */
export function versionResponse(v: StoredVersion, headers: Record<string, string>): FhirResponse {
  if (v.json === undefined) return { status: 200, body: v.resource, headers };
  const res: FhirResponse = { status: 200, json: v.json, headers };
  Object.defineProperty(res, 'body', { get: () => v.resource, enumerable: true, configurable: true });
  return res;
}

export function versionUrl(baseUrl: string, v: StoredVersion): string {
  return `${baseUrl}/${v.resourceType}/${v.id}/_history/${v.versionId}`;
}

export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export function returnPreference(prefer: string | undefined): ReturnPreference {
  const m = /return=(minimal|representation|OperationOutcome)/.exec(prefer ?? '');
  return (m?.[1] as ReturnPreference | undefined) ?? 'representation';
}

/** Builds a create/update response honouring `Prefer: return=` (R4 §3.1.0.4.1). */
export function writeResponse(status: number, v: StoredVersion, baseUrl: string, prefer: string | undefined): FhirResponse {
  const headers: Record<string, string> = { ...versionHeaders(v), Location: versionUrl(baseUrl, v) };
  switch (returnPreference(prefer)) {
    case 'minimal':
      return { status, headers };
    case 'OperationOutcome':
      return { status, headers, body: okOutcome(`${status === 201 ? 'Created' : 'Updated'} ${v.resourceType}/${v.id} version ${v.versionId}`) };
    default:
      return { status, headers, body: v.resource as Resource };
  }
}

export function statusLine(status: number): string {
  const text: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed' };
  return `${status}${text[status] ? ` ${text[status]}` : ''}`;
}
