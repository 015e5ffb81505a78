import { USER_CONTEXTS, type AuthorizeRequest } from './authorize-request.js';
import type { ClientRegistration } from './client-registration.js';
import type { Grant } from './grant.js';
import type { PatientDirectory, PatientSummary } from './patient-directory.js';
import { choosePurposes } from './choose-purposes.js';
import { grantScopes, type ScopeContext } from './scope-grant.js';
import type { UserRecord } from './users.js';

const PATIENT_ONLY: ReadonlySet<ScopeContext> = new Set(['patient']);

/** What a signed-in user can grant an app: scopes, and whether a launch patient is needed. */
export interface LaunchPlan {
  readonly scopes: readonly string[];
  readonly needsPatient: boolean;
  /** The patient a patient user is (their launch context is always themselves). */
  readonly ownPatient?: PatientSummary;
}

export function isPatientUser(user: UserRecord): boolean {
  return user.roles.includes('patient');
}

/**
 * A patient user may grant only `patient/` scopes (on their own record); other users
 * `patient/` and `user/` ones. `system/` scopes never come from a user. A launch needs a
 * patient when it asks for launch/patient or any patient/ scope (SMART "context-standalone-patient").
 */
export async function planLaunch(user: UserRecord, client: ClientRegistration, request: AuthorizeRequest, patients: PatientDirectory): Promise<LaunchPlan> {
  const scopes = grantScopes(request.scopes, client.scopes, isPatientUser(user) ? PATIENT_ONLY : USER_CONTEXTS);
  const needsPatient = scopes.includes('launch/patient') || scopes.some((s) => s.startsWith('patient/'));
  if (!isPatientUser(user)) return { scopes, needsPatient };
  const ownPatient = await resolveOwnPatient(user, patients);
  return { scopes, needsPatient, ...(ownPatient ? { ownPatient } : {}) };
}

async function resolveOwnPatient(user: UserRecord, patients: PatientDirectory): Promise<PatientSummary | undefined> {
  if (user.fhirUser?.startsWith('Patient/')) return patients.get(user.fhirUser.slice('Patient/'.length));
  if (user.patientIdentifier) return patients.findByIdentifier(user.patientIdentifier);
  return undefined;
}

/**
 * The grant an approved launch yields. The one place a user's approval becomes a Grant:
 * the approval form and nothing else call it, so every launch token is shaped the same way.
 */
export function launchGrant(
  user: UserRecord,
  client: ClientRegistration,
  plan: LaunchPlan,
  patient: PatientSummary | undefined,
  purposeOfUse: readonly string[],
): Grant {
  const fhirUser = user.fhirUser ?? (plan.ownPatient ? `Patient/${plan.ownPatient.id}` : undefined);
  return {
    clientId: client.client_id,
    subject: user.username,
    scopes: plan.scopes,
    purposeOfUse,
    roles: user.roles,
    ...(fhirUser !== undefined ? { fhirUser } : {}),
    ...(patient !== undefined ? { patient: patient.id } : {}),
  };
}

/** The purpose chosen on the form, else the one requested, else the client's default. */
export function launchPurposes(client: ClientRegistration, request: AuthorizeRequest, formChoice: string | undefined): string[] | undefined {
  return choosePurposes(client.purposes_of_use, formChoice ?? request.purposeOfUse);
}
