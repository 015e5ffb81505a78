import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { ClientRegistration } from './client-registration.js';
import type { ClientRegistry } from './client-registry.js';
import { OAuthError } from './oauth-error.js';
import type { ReplayCache } from './replay-cache.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Signature algorithms accepted on client assertions: SMART Backend Services requires RS384 and
 * ES384; RS256, ES256 and EdDSA are accepted too. Never `none` or HMAC (a registered JWKS
 * holds public keys only).
 */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384', 'RS256', 'ES256', 'RS512', 'ES512', 'PS256', 'PS384', 'EdDSA'];

/** SMART Backend Services: `exp` "no more than five minutes in the future". */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;

export interface AssertionContext {
  readonly registry: ClientRegistry;
  readonly replay: ReplayCache;
  /** The token endpoint's URL: the only audience accepted. */
  readonly tokenEndpoint: string;
  readonly clockSkewSeconds: number;
  readonly nowMs: number;
}

/**
 * Authenticates a client by its `private_key_jwt` assertion (RFC 7523 §2.2 and §3,
 * https://www.rfc-editor.org/rfc/rfc7523; SMART Backend Services "Authenticating to the Token
 * endpoint", https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html):
 * signed by a key registered for the client, iss = sub = client_id, aud = token endpoint,
 * exp at most five minutes ahead, and a jti never seen before. Every failure is
 * `invalid_client` (401), with a description that names the check that failed.
 */
export async function authenticateByAssertion(
  assertionType: string | undefined,
  assertion: string | undefined,
  clientIdParam: string | undefined,
  ctx: AssertionContext,
): Promise<ClientRegistration> {
  if (assertionType !== JWT_BEARER_ASSERTION) {
    throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
  }
  if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is missing');
  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(assertion);
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a JWT');
  }
  const clientId = unverified.iss;
  if (typeof clientId !== 'string' || clientId === '') throw new OAuthError('invalid_client', 'client_assertion has no iss (the client_id)');
  if (clientIdParam !== undefined && clientIdParam !== clientId) {
    throw new OAuthError('invalid_client', 'client_id does not match the client_assertion iss');
  }
  const client = ctx.registry.get(clientId);
  if (!client?.jwks) throw new OAuthError('invalid_client', 'unknown client, or a client without registered keys');

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: clientId,
      subject: clientId,
      audience: ctx.tokenEndpoint,
      clockTolerance: ctx.clockSkewSeconds,
      currentDate: new Date(ctx.nowMs),
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    throw new OAuthError('invalid_client', `client_assertion rejected: ${describeJoseError(err)}`);
  }
  const nowSeconds = ctx.nowMs / 1000;
  const exp = payload.exp!;
  if (exp > nowSeconds + MAX_ASSERTION_LIFETIME_SECONDS + ctx.clockSkewSeconds) {
    throw new OAuthError('invalid_client', `client_assertion exp is more than ${MAX_ASSERTION_LIFETIME_SECONDS} seconds in the future`);
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw new OAuthError('invalid_client', 'client_assertion jti must be a string of 1-256 characters');
  const expiresAtMs = (exp + ctx.clockSkewSeconds) * 1000;
  if (!(await ctx.replay.claim(clientId, jti, expiresAtMs, ctx.nowMs))) {
    throw new OAuthError('invalid_client', 'client_assertion jti was already used (replay)');
  }
  return client;
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === 'check_failed' ? 'is wrong' : err.reason.replace(/_/g, ' ')}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify with the registered keys';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no registered key matches its kid/alg';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'several registered keys match; give the kid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signature algorithm not accepted';
  if (err instanceof errors.JOSEError) return err.message;
  return 'malformed';
}
