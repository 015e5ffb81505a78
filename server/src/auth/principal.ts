import { isPurposeOfUse } from './purpose-of-use.js';
import { parseScopes, type SmartScope } from './scopes.js';

/**
 * Who is asking, for what purpose, within which scopes: one immutable object per request,
 * built from a verified access token (SMART App Launch 2.x,
 * https://hl7.org/fhir/smart-app-launch/; purpose of use as in IHE IUA). Later stages (consent,
 * audit) receive exactly this object.
 */
export const ROLES = ['admin', 'clinician', 'patient', 'insurer', 'employer', 'research'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** `sub`: the user or system the token was issued to. */
  readonly subject: string;
  readonly clientId: string;
  /** `fhirUser`: Practitioner, Patient, RelatedPerson, Organization or Device reference. */
  readonly who?: string;
  readonly roles: readonly Role[];
  /** The resource scopes granted (malformed ones dropped; they grant nothing). */
  readonly scopes: readonly SmartScope[];
  /** The `scope` claim as issued. */
  readonly scope: string;
  /** HL7 v3 PurposeOfUse codes (system http://terminology.hl7.org/CodeSystem/v3-ActReason). */
  readonly purposeOfUse: readonly string[];
  /** `patient`: the launch patient's id; `patient/` scopes reach only their compartment. */
  readonly launchPatient?: string;
  /** The peer address of the connection (never taken from X-Forwarded-For). */
  readonly sourceAddress?: string;
  /** `jti` of the access token. */
  readonly tokenId?: string;
}

/** The claims Custodian reads from an access token (beyond iss/aud/exp/nbf, checked on verify). */
export interface AccessTokenClaims {
  sub?: unknown;
  client_id?: unknown;
  scope?: unknown;
  fhirUser?: unknown;
  patient?: unknown;
  purpose_of_use?: unknown;
  roles?: unknown;
  jti?: unknown;
  [claim: string]: unknown;
}

/** A verified token whose claims do not describe a usable principal (→ 401 invalid_token). */
export class InvalidClaimsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidClaimsError';
  }
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const FHIR_USER = /^(?:[a-z][a-z0-9+.-]*:\/\/\S*\/)?(Practitioner|PractitionerRole|Patient|RelatedPerson|Person|Organization|Device)\/[A-Za-z0-9\-.]{1,64}$/;
const ROLE_SET: ReadonlySet<string> = new Set(ROLES);

export function principalFromClaims(claims: AccessTokenClaims, sourceAddress?: string): Principal {
  const subject = requiredString(claims.sub, 'sub');
  const clientId = requiredString(claims.client_id, 'client_id');
  const scope = claims.scope === undefined ? '' : requiredString(claims.scope, 'scope', true);
  let who: string | undefined;
  if (claims.fhirUser !== undefined) {
    who = requiredString(claims.fhirUser, 'fhirUser');
    if (!FHIR_USER.test(who)) throw new InvalidClaimsError(`fhirUser '${who.slice(0, 100)}' is not a Practitioner, Patient, RelatedPerson, Organization or Device reference`);
  }
  let launchPatient: string | undefined;
  if (claims.patient !== undefined) {
    launchPatient = requiredString(claims.patient, 'patient');
    if (!FHIR_ID.test(launchPatient)) throw new InvalidClaimsError('patient is not a FHIR id');
  }
  return freezePrincipal({
    subject,
    clientId,
    ...(who !== undefined ? { who } : {}),
    roles: rolesOf(claims.roles),
    scopes: parseScopes(scope).resource,
    scope,
    purposeOfUse: purposesOf(claims.purpose_of_use),
    ...(launchPatient !== undefined ? { launchPatient } : {}),
    ...(sourceAddress !== undefined ? { sourceAddress } : {}),
    ...(typeof claims.jti === 'string' ? { tokenId: claims.jti } : {}),
  });
}

/**
 * The same principal acting for one of its purposes only (a client may narrow, never widen,
 * what its token says); undefined when the token does not carry that purpose.
 */
export function withPurpose(p: Principal, purpose: string): Principal | undefined {
  if (!p.purposeOfUse.includes(purpose)) return undefined;
  return freezePrincipal({ ...p, purposeOfUse: [purpose] });
}

/**
 * The server acting on its own behalf: start-up seeding, imports, conformance resources. Only
 * in-process code that already holds the store can act as it; no token maps to it.
 */
export const SERVER_PRINCIPAL: Principal = freezePrincipal({
  subject: 'custodian',
  clientId: 'custodian',
  roles: ['admin'],
  scopes: parseScopes('system/*.cruds').resource,
  scope: 'system/*.cruds',
  purposeOfUse: ['HSYSADMIN'],
});

/**
 * Whether a principal is the server itself. By identity, never by its names: a token whose
 * `sub` and `client_id` happen to read "custodian" is a client like any other.
 */
export function isServerPrincipal(p: Principal): boolean {
  return p === SERVER_PRINCIPAL;
}

/** Public endpoints (the CapabilityStatement): nobody in particular, no scopes. */
export const ANONYMOUS_PRINCIPAL: Principal = freezePrincipal({
  subject: 'anonymous',
  clientId: 'anonymous',
  roles: [],
  scopes: [],
  scope: '',
  purposeOfUse: [],
});

function requiredString(v: unknown, claim: string, allowEmpty = false): string {
  if (typeof v !== 'string' || (!allowEmpty && v === '')) throw new InvalidClaimsError(`the token's '${claim}' claim must be a non-empty string`);
  return v;
}

/** IHE IUA allows one code or several; both arrive here as a list. */
function purposesOf(v: unknown): string[] {
  if (v === undefined) return [];
  const list = typeof v === 'string' ? v.split(/\s+/).filter((s) => s !== '') : v;
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string')) throw new InvalidClaimsError("purpose_of_use must be a code or an array of codes");
  for (const code of list as string[]) {
    if (!isPurposeOfUse(code)) throw new InvalidClaimsError(`purpose_of_use '${code.slice(0, 40)}' is not an HL7 v3 PurposeOfUse code`);
  }
  return [...new Set(list as string[])];
}

/** Roles this server does not know are ignored (an identity provider may carry its own). */
function rolesOf(v: unknown): Role[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new InvalidClaimsError('roles must be an array');
  return [...new Set(v.filter((r): r is Role => typeof r === 'string' && ROLE_SET.has(r)))];
}

function freezePrincipal(p: Principal): Principal {
  Object.freeze(p.roles);
  Object.freeze(p.purposeOfUse);
  // Scope objects come frozen from parseScopes; the list is frozen there too.
  Object.freeze(p.scopes);
  return Object.freeze(p);
}
