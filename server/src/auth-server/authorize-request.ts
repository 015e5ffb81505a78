import type { ClientRegistration } from './client-registration.js';
import type { ClientRegistry } from './client-registry.js';
import type { OAuthErrorCode } from './oauth-error.js';
import { isValidS256Challenge } from './pkce.js';
import { choosePurposes } from './choose-purposes.js';
import { matchRedirectUri } from './redirect-uri.js';
import { grantScopes, splitScope, type ScopeContext } from './scope-grant.js';

/** A validated authorization request, kept while the user signs in and approves. */
export interface AuthorizeRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state?: string;
  /** As requested; what is granted is decided once the user is known. */
  readonly scopes: readonly string[];
  readonly codeChallenge: string;
  /** Requested purposes (space-separated v3 codes), if any. */
  readonly purposeOfUse?: string;
}

export type AuthorizeValidation =
  | { readonly kind: 'ok'; readonly request: AuthorizeRequest; readonly client: ClientRegistration }
  /** No trustworthy redirect URI: the error is shown to the user, never redirected. */
  | { readonly kind: 'show-error'; readonly message: string }
  | { readonly kind: 'redirect-error'; readonly redirectUri: string; readonly state?: string; readonly error: OAuthErrorCode; readonly description: string };

export const USER_CONTEXTS: ReadonlySet<ScopeContext> = new Set(['patient', 'user']);

/**
 * Checks `GET /auth/authorize` (RFC 6749 §4.1.1, SMART App Launch 2.x "Obtain authorization
 * code", https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code).
 * Per §4.1.2.1, a missing, unknown or unregistered client_id/redirect_uri is shown to the
 * user (redirecting would make this an open redirector); every other problem goes back to
 * the app's redirect URI as `error=` with its `state`.
 */
export function validateAuthorizeRequest(
  query: string,
  ctx: { readonly registry: ClientRegistry; readonly audiences: readonly string[] },
): AuthorizeValidation {
  const all = new URLSearchParams(query);
  const single = (name: string): string | undefined | null => {
    const values = all.getAll(name);
    if (values.length > 1) return null;
    return values[0] === '' ? undefined : values[0];
  };
  const clientId = single('client_id');
  if (clientId === null) return { kind: 'show-error', message: 'The request names client_id more than once.' };
  if (clientId === undefined) return { kind: 'show-error', message: 'The request has no client_id.' };
  const client = ctx.registry.get(clientId);
  if (!client) return { kind: 'show-error', message: 'The application is not registered with this server.' };
  const redirectUri = single('redirect_uri');
  if (redirectUri === null || redirectUri === undefined) return { kind: 'show-error', message: 'The request has no single redirect_uri.' };
  if (!matchRedirectUri(client.redirect_uris, redirectUri)) {
    return { kind: 'show-error', message: 'The redirect_uri is not registered for this application.' };
  }

  const stateValue = single('state');
  const state = typeof stateValue === 'string' ? stateValue : undefined;
  const fail = (error: OAuthErrorCode, description: string): AuthorizeValidation => ({
    kind: 'redirect-error',
    redirectUri,
    ...(state !== undefined ? { state } : {}),
    error,
    description,
  });
  for (const name of new Set(all.keys())) if (all.getAll(name).length > 1) return fail('invalid_request', `parameter ${name} is repeated`);
  if (client.kind === 'backend') return fail('unauthorized_client', 'backend clients cannot use the authorization code flow');
  if (state !== undefined && state.length > 2048) return fail('invalid_request', 'state is longer than 2048 characters');

  const responseType = single('response_type');
  if (responseType === undefined) return fail('invalid_request', 'response_type is required');
  if (responseType !== 'code') return fail('unsupported_response_type', 'only response_type=code is supported');
  if (single('launch') !== undefined) return fail('invalid_request', 'EHR launch is not supported; use a standalone launch (no launch parameter)');

  const method = single('code_challenge_method');
  const challenge = single('code_challenge');
  if (method !== 'S256') return fail('invalid_request', 'PKCE is required with code_challenge_method=S256 (plain is refused)');
  if (typeof challenge !== 'string' || !isValidS256Challenge(challenge)) return fail('invalid_request', 'code_challenge must be a base64url SHA-256 digest (43 characters)');

  const aud = single('aud');
  if (typeof aud !== 'string') return fail('invalid_request', 'aud (the FHIR base URL) is required');
  if (!ctx.audiences.includes(aud.replace(/\/+$/, ''))) return fail('invalid_request', 'aud does not name this FHIR server');

  const scopes = splitScope(single('scope') ?? undefined);
  if (scopes.length === 0) return fail('invalid_scope', 'scope is required');
  if (grantScopes(scopes, client.scopes, USER_CONTEXTS).length === 0) return fail('invalid_scope', 'none of the requested scopes is registered for this application');

  const purpose = single('purpose_of_use');
  if (typeof purpose === 'string' && !choosePurposes(client.purposes_of_use, purpose)) {
    return fail('invalid_request', `purpose_of_use must be among ${client.purposes_of_use.join(', ')}`);
  }
  return {
    kind: 'ok',
    client,
    request: {
      clientId,
      redirectUri,
      ...(state !== undefined ? { state } : {}),
      scopes,
      codeChallenge: challenge,
      ...(typeof purpose === 'string' ? { purposeOfUse: purpose } : {}),
    },
  };
}
