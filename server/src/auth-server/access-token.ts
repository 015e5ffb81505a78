import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Grant } from './grant.js';
import { SIGNING_ALG, type SigningKey } from './signing-key.js';

export interface AccessTokenSettings {
  readonly issuer: string;
  /** `aud`: the FHIR base URL (config.auth.audience). */
  readonly audience: string;
  readonly ttlSeconds: number;
}

/**
 * Signs an access token: a JWT (RFC 9068 profile, `typ: at+jwt`) carrying the claims the FHIR
 * gate reads into the Principal: iss, aud, sub, iat, exp, jti, client_id, scope, and when
 * present fhirUser, patient, purpose_of_use (array of v3 PurposeOfUse codes), roles.
 */
export async function signAccessToken(key: SigningKey, settings: AccessTokenSettings, grant: Grant, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({
    client_id: grant.clientId,
    scope: grant.scopes.join(' '),
    purpose_of_use: [...grant.purposeOfUse],
    roles: [...grant.roles],
    ...(grant.fhirUser !== undefined ? { fhirUser: grant.fhirUser } : {}),
    ...(grant.patient !== undefined ? { patient: grant.patient } : {}),
  })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(grant.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + settings.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
