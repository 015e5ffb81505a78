import { FhirError } from '../fhir/outcomes.js';
import { InvalidClaimsError, principalFromClaims, withPurpose, type Principal } from './principal.js';
import { InvalidTokenError, TokenKeysUnavailableError, type TokenVerifier } from './verify-token.js';

/**
 * The bearer-token check at the edge (RFC 6750; SMART App Launch 2.x,
 * https://hl7.org/fhir/smart-app-launch/): `Authorization: Bearer <JWT>` → a Principal, or a
 * 401 whose `WWW-Authenticate` says why. Framework-free: the HTTP edge hands it the header
 * values and the socket's address.
 */
export interface Authenticator {
  authenticate(request: {
    authorization: string | undefined;
    /** Optional narrowing of the token's purposes to one (`X-Purpose-Of-Use`). */
    purposeOfUse?: string | undefined;
    sourceAddress: string | undefined;
  }): Promise<Principal>;
}

/** 401 with its RFC 6750 challenge; the edge sends `challenge` as `WWW-Authenticate`. */
export class AuthenticationError extends FhirError {
  constructor(
    message: string,
    readonly challenge: string,
  ) {
    super('unauthorized', message);
    this.name = 'AuthenticationError';
  }
}

/** The request header a client may use to act for one of its token's purposes only. */
export const PURPOSE_HEADER = 'x-purpose-of-use';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

/** Principals remembered per token (see below); bounded like the verifier's cache. */
const PRINCIPAL_MEMO_SIZE = 10_000;

export function createAuthenticator(verifier: TokenVerifier, realm: string): Authenticator {
  const quoted = realm.replace(/["\\]/g, '');
  // A client sends the same token many times from one connection. The verifier hands back the
  // same claims object while it remembers the token, so the principal built from those claims
  // and that address can be reused for exactly as long; it is immutable, so sharing is safe.
  const memo = new Map<string, { claims: object; sourceAddress: string | undefined; principal: Principal }>();
  const challenge = (error?: string, description?: string): string =>
    `Bearer realm="${quoted}"${error ? `, error="${error}"` : ''}${description ? `, error_description="${description.replace(/["\\]/g, '')}"` : ''}`;
  return {
    async authenticate({ authorization, purposeOfUse, sourceAddress }) {
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      if (authorization === undefined || authorization.trim() === '') {
        throw new AuthenticationError('This endpoint needs an access token (Authorization: Bearer …)', challenge());
      }
      const m = BEARER.exec(authorization);
      if (!m) {
        const text = 'The Authorization header must be "Bearer <access token>"';
        throw new AuthenticationError(text, challenge('invalid_token', text));
      }
      const token = m[1] as string;
      let principal: Principal;
      try {
        const claims = await verifier.verify(token);
        const hit = memo.get(token);
        if (hit && hit.claims === claims && hit.sourceAddress === sourceAddress) principal = hit.principal;
        else {
          principal = principalFromClaims(claims, sourceAddress);
          if (memo.size >= PRINCIPAL_MEMO_SIZE) memo.delete(memo.keys().next().value as string);
          memo.set(token, { claims, sourceAddress, principal });
        }
      } catch (err) {
        if (err instanceof InvalidTokenError || err instanceof InvalidClaimsError) {
          const text = err instanceof InvalidTokenError ? err.description : `The access token's claims are invalid: ${err.message}`;
          throw new AuthenticationError(text, challenge('invalid_token', text));
        }
        if (err instanceof TokenKeysUnavailableError) throw new FhirError('unavailable', 'The access token cannot be checked right now; try again');
        throw err;
      }
      if (purposeOfUse !== undefined && purposeOfUse.trim() !== '') {
        const narrowed = withPurpose(principal, purposeOfUse.trim());
        if (!narrowed) throw new FhirError('forbidden', `The access token does not carry the purpose of use '${purposeOfUse.trim().slice(0, 40)}'`);
        principal = narrowed;
      }
      return principal;
    },
  };
}
