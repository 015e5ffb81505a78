import type { Role } from './client-registration.js';

/**
 * What one access token stands for: who, through which client, with which scopes, for which
 * purposes and (for patient-context launches) for which patient. Every grant type ends in one
 * of these; codes and refresh tokens carry it until tokens are issued from it.
 */
export interface Grant {
  readonly clientId: string;
  /** `sub`: the user's id for launches, the client id for backend services. */
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly purposeOfUse: readonly string[];
  readonly roles: readonly Role[];
  /** The acting user or organisation as a FHIR reference, e.g. "Practitioner/pract-1". */
  readonly fhirUser?: string;
  /** Launch context: the id of the patient the app was launched for. */
  readonly patient?: string;
}

/** Scopes that earn a refresh token (SMART "permission-offline" / "permission-online"). */
export function refreshKind(scopes: readonly string[]): 'offline' | 'online' | undefined {
  if (scopes.includes('offline_access')) return 'offline';
  if (scopes.includes('online_access')) return 'online';
  return undefined;
}
