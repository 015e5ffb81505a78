import type { Logger } from 'pino';
import type { AuthorizationCodes } from './authorization-codes.js';
import { authenticateByAssertion } from './client-assertion.js';
import type { ClientRegistration } from './client-registration.js';
import type { ClientRegistry } from './client-registry.js';
import { OAuthParams } from './form-params.js';
import type { Grant } from './grant.js';
import { OAuthError } from './oauth-error.js';
import { verifyS256 } from './pkce.js';
import { choosePurposes } from './choose-purposes.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { ReplayCache } from './replay-cache.js';
import { grantScopes, splitScope } from './scope-grant.js';
import type { TokenIssuer, TokenResponse } from './token-issuer.js';

export interface TokenRequestDeps {
  readonly registry: ClientRegistry;
  readonly replay: ReplayCache;
  readonly codes: AuthorizationCodes;
  readonly refreshTokens: RefreshTokens;
  readonly tokens: TokenIssuer;
  /** Absolute URL of this endpoint: the audience client assertions must name. */
  readonly tokenEndpoint: string;
  readonly clockSkewSeconds: number;
  readonly now: () => number;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

const SYSTEM_ONLY = new Set(['system'] as const);

/**
 * The token endpoint's grants (RFC 6749 §3.2), framework-free: `client_credentials` with a
 * private_key_jwt assertion (SMART Backend Services,
 * https://hl7.org/fhir/smart-app-launch/backend-services.html), `authorization_code` with PKCE
 * (SMART App Launch, https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token)
 * and `refresh_token` with rotation. Failures are OAuthErrors (RFC 6749 §5.2).
 */
export async function handleTokenRequest(params: OAuthParams, deps: TokenRequestDeps): Promise<TokenResponse> {
  const grantType = params.require('grant_type');
  switch (grantType) {
    case 'client_credentials':
      return clientCredentials(params, deps);
    case 'authorization_code':
      return authorizationCode(params, deps);
    case 'refresh_token':
      return refreshToken(params, deps);
    default:
      throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported (client_credentials, authorization_code, refresh_token are)`);
  }
}

/** SMART Backend Services: the client acts for itself, with system/ scopes only. */
async function clientCredentials(params: OAuthParams, deps: TokenRequestDeps): Promise<TokenResponse> {
  const nowMs = deps.now();
  const client = await authenticateByAssertion(params.get('client_assertion_type'), params.get('client_assertion'), params.get('client_id'), assertionContext(deps, nowMs));
  if (client.kind !== 'backend') throw new OAuthError('unauthorized_client', 'only backend clients may use client_credentials');
  const requested = splitScope(params.require('scope'));
  const scopes = grantScopes(requested, client.scopes, SYSTEM_ONLY);
  if (scopes.length === 0) throw new OAuthError('invalid_scope', `none of the requested scopes is registered for ${client.client_id}`);
  const purposeOfUse = choosePurposes(client.purposes_of_use, params.get('purpose_of_use'));
  if (!purposeOfUse) throw new OAuthError('invalid_request', `purpose_of_use must be among ${client.purposes_of_use.join(', ')} for ${client.client_id}`);
  const grant: Grant = {
    clientId: client.client_id,
    subject: client.client_id,
    scopes,
    purposeOfUse,
    roles: client.roles,
    ...(client.fhirUser !== undefined ? { fhirUser: client.fhirUser } : {}),
  };
  deps.logger?.info({ client_id: client.client_id, scope: grant.scopes.join(' '), purpose_of_use: purposeOfUse }, 'token issued (client_credentials)');
  return deps.tokens.issue(grant, nowMs);
}

/** Code exchange: single-use code, same client and redirect URI, PKCE S256 verifier. */
async function authorizationCode(params: OAuthParams, deps: TokenRequestDeps): Promise<TokenResponse> {
  const nowMs = deps.now();
  const client = await authenticateAppClient(params, deps, nowMs);
  const code = params.require('code');
  const redirectUri = params.require('redirect_uri');
  const verifier = params.require('code_verifier');
  const redemption = await deps.codes.redeem(code, nowMs);
  if (!redemption.ok) {
    if (redemption.reason === 'reused') {
      await deps.refreshTokens.revokeFamily(redemption.familyId, nowMs);
      deps.logger?.warn({ client_id: client.client_id }, 'authorization code replayed; its refresh tokens are revoked');
      throw new OAuthError('invalid_grant', 'authorization code was already used');
    }
    throw new OAuthError('invalid_grant', redemption.reason === 'expired' ? 'authorization code expired' : 'unknown authorization code');
  }
  const record = redemption.record;
  if (record.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'authorization code was issued to another client');
  if (record.redirectUri !== redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorization request');
  if (!verifyS256(verifier, record.codeChallenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
  deps.logger?.info({ client_id: client.client_id, sub: record.grant.subject, scope: record.grant.scopes.join(' ') }, 'token issued (authorization_code)');
  return deps.tokens.issue(record.grant, nowMs, { familyId: record.familyId });
}

/** Rotation: the old refresh token is spent; presenting it again revokes its family. */
async function refreshToken(params: OAuthParams, deps: TokenRequestDeps): Promise<TokenResponse> {
  const nowMs = deps.now();
  const client = await authenticateAppClient(params, deps, nowMs);
  const narrowed = params.get('scope');
  const asked = narrowed === undefined ? undefined : splitScope(narrowed);
  const rotation = await deps.refreshTokens.rotate(params.require('refresh_token'), client.client_id, nowMs, asked);
  if (!rotation.ok) {
    if (rotation.reason === 'scope') throw new OAuthError('invalid_scope', `not part of the original grant: ${rotation.outside.join(' ')}`);
    if (rotation.reason === 'reused') deps.logger?.warn({ client_id: client.client_id }, 'refresh token reused; its family is revoked');
    throw new OAuthError('invalid_grant', REFRESH_FAILURES[rotation.reason]);
  }
  // RFC 6749 §6: a refresh may ask for less, never more; the new refresh token keeps the original grant.
  const grant = asked === undefined || asked.length === 0 ? rotation.grant : { ...rotation.grant, scopes: asked };
  return deps.tokens.issue(grant, nowMs, { rotated: rotation.refreshToken });
}

const REFRESH_FAILURES = {
  unknown: 'unknown refresh token',
  'wrong-client': 'unknown refresh token',
  expired: 'refresh token expired',
  revoked: 'refresh token revoked',
  reused: 'refresh token was already used; every token of this authorization is revoked',
} as const;

/** Public apps identify themselves by client_id; confidential ones prove it with an assertion. */
async function authenticateAppClient(params: OAuthParams, deps: TokenRequestDeps, nowMs: number): Promise<ClientRegistration> {
  let client: ClientRegistration;
  if (params.get('client_assertion') !== undefined || params.get('client_assertion_type') !== undefined) {
    client = await authenticateByAssertion(params.get('client_assertion_type'), params.get('client_assertion'), params.get('client_id'), assertionContext(deps, nowMs));
  } else {
    const clientId = params.get('client_id');
    if (clientId === undefined) throw new OAuthError('invalid_client', 'client_id is required (or a client_assertion)');
    const found = deps.registry.get(clientId);
    if (!found) throw new OAuthError('invalid_client', 'unknown client');
    if (found.kind !== 'public') throw new OAuthError('invalid_client', `${clientId} must authenticate with a private_key_jwt client_assertion`);
    client = found;
  }
  if (client.kind === 'backend') throw new OAuthError('unauthorized_client', 'backend clients use client_credentials');
  return client;
}

function assertionContext(deps: TokenRequestDeps, nowMs: number) {
  return { registry: deps.registry, replay: deps.replay, tokenEndpoint: deps.tokenEndpoint, clockSkewSeconds: deps.clockSkewSeconds, nowMs };
}
