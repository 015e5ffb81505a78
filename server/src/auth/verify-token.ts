import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config/config.js';
import type { AccessTokenClaims } from './principal.js';

/**
 * Access-token verification (SMART App Launch 2.x, https://hl7.org/fhir/smart-app-launch/;
 * JWT access tokens as in RFC 9068): signature against the issuer's JWKS, `iss`, `aud` = the
 * FHIR base URL, `exp`/`nbf` with a small configurable skew.
 */
export interface TokenVerifier {
  /** The token's claims; throws InvalidTokenError (→ 401) or TokenKeysUnavailableError (→ 503). */
  verify(token: string): Promise<AccessTokenClaims>;
}

/** The token is not acceptable; `description` goes into `WWW-Authenticate` (RFC 6750 §3). */
export class InvalidTokenError extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'InvalidTokenError';
  }
}

/** The issuer's keys could not be fetched: the token may be fine, so this is not a 401. */
export class TokenKeysUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenKeysUnavailableError';
  }
}

/** What external identity providers sign with and the built-in server uses (ES256). */
export const ACCEPTED_ALGORITHMS = Object.freeze(['RS256', 'ES256', 'EdDSA']);

export interface VerifierOptions {
  issuer: string;
  audience: string;
  clockSkewSeconds: number;
  keys: JWTVerifyGetKey;
  /** Milliseconds since the epoch; injected so tests can move the clock. */
  now?: () => number;
  /**
   * How long a verified token is remembered (ms). Reads must stay fast, and a signature check
   * costs far more than a read; the bound keeps a key rotation or revocation at the IdP
   * effective within this time.
   */
  cacheTtlMs?: number;
  cacheSize?: number;
}

interface Cached {
  claims: AccessTokenClaims;
  /** Remembered until (ms): the earlier of the cache TTL and the token's expiry (+ skew). */
  until: number;
}

export function createTokenVerifier(opts: VerifierOptions): TokenVerifier {
  const now = opts.now ?? Date.now;
  const ttl = opts.cacheTtlMs ?? 60_000;
  const size = opts.cacheSize ?? 10_000;
  const skewMs = opts.clockSkewSeconds * 1000;
  const cache = new Map<string, Cached>();
  return {
    async verify(token: string): Promise<AccessTokenClaims> {
      const t = now();
      const hit = cache.get(token);
      if (hit) {
        if (hit.until > t) return hit.claims;
        cache.delete(token);
      }
      let claims: AccessTokenClaims;
      try {
        const result = await jwtVerify(token, opts.keys, {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms: [...ACCEPTED_ALGORITHMS],
          clockTolerance: opts.clockSkewSeconds,
          currentDate: new Date(t),
          requiredClaims: ['exp', 'sub'],
        });
        claims = result.payload as AccessTokenClaims;
      } catch (err) {
        throw classify(err);
      }
      const exp = typeof claims.exp === 'number' ? claims.exp * 1000 + skewMs : t;
      const until = Math.min(t + ttl, exp);
      if (until > t) {
        if (cache.size >= size) cache.delete(cache.keys().next().value as string);
        cache.set(token, { claims: Object.freeze(claims), until });
      }
      return claims;
    },
  };
}

/**
 * The verifier production uses, from configuration: the built-in authorization server's
 * public keys, or the external issuer's JWKS URL. There is no configuration without one.
 */
export function tokenVerifierFor(auth: AuthConfig, builtin?: { jwks(): Promise<JSONWebKeySet> }): TokenVerifier {
  let keys: JWTVerifyGetKey;
  if (auth.mode === 'external') {
    if (!auth.jwksUrl) throw new Error('external authorization needs a JWKS URL');
    keys = createRemoteJWKSet(new URL(auth.jwksUrl));
  } else {
    if (!builtin) throw new Error('built-in authorization: pass the authorization server (its jwks()) to tokenVerifierFor');
    keys = keysFromJwks(builtin.jwks);
  }
  return createTokenVerifier({ issuer: auth.issuer, audience: auth.audience, clockSkewSeconds: auth.clockSkewSeconds, keys });
}

/**
 * Keys from a JWKS the caller supplies (the built-in server's current keys, or a test issuer's).
 * The set is asked for on each verification the cache misses, so a rotated key is picked up.
 */
export function keysFromJwks(jwks: () => Promise<JSONWebKeySet>): JWTVerifyGetKey {
  let last: { set: JSONWebKeySet; keys: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    const set = await jwks();
    if (last?.set !== set) last = { set, keys: createLocalJWKSet(set) };
    return last.keys(header, token);
  };
}

function classify(err: unknown): Error {
  if (err instanceof errors.JWTExpired) return new InvalidTokenError('The access token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return new InvalidTokenError('The access token is not valid yet');
      case 'iss':
        return new InvalidTokenError('The access token was not issued by the trusted issuer');
      case 'aud':
        return new InvalidTokenError('The access token is not meant for this server (audience)');
      default:
        return new InvalidTokenError(`The access token's '${err.claim}' claim is missing or invalid`);
    }
  }
  if (err instanceof errors.JWKSTimeout) return new TokenKeysUnavailableError('The issuer did not publish its keys in time');
  // A JWKS endpoint answering an error or an invalid set is the provider's fault, not the token's.
  if (err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && err.constructor === errors.JOSEError)) {
    return new TokenKeysUnavailableError(`Could not obtain the issuer's keys: ${err.message}`);
  }
  if (err instanceof errors.JOSEError) {
    // Signature failures, unknown keys, disallowed algorithms, malformed tokens: all forged or broken.
    if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
      return new InvalidTokenError('The access token signature does not verify');
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return new InvalidTokenError('The access token is signed with an algorithm this server does not accept');
    return new InvalidTokenError('The access token is malformed');
  }
  // jose rejects syntactically broken tokens with JOSE errors; anything else is the key source
  // (a network failure fetching a remote JWKS).
  return new TokenKeysUnavailableError(`Could not obtain the issuer's keys: ${(err as Error)?.message ?? String(err)}`);
}
