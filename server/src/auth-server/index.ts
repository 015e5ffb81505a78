import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import type { AuthConfig } from '../config/config.js';
import { openAuthState, type AuthState } from './auth-state.js';
import { AuthorizationCodes } from './authorization-codes.js';
import { authRouter } from './http/auth-router.js';
import { LaunchFlow } from './launch-flow.js';
import { ClientRegistry } from './client-registry.js';
import type { PatientDirectory } from './patient-directory.js';
import { PendingAuthorizations } from './pending-authorizations.js';
import { RateLimiter } from './rate-limit.js';
import { RefreshTokens } from './refresh-tokens.js';
import { ReplayCache } from './replay-cache.js';
import { loadSigningKey } from './signing-key.js';
import { smartConfiguration } from './smart-configuration.js';
import { TokenIssuer } from './token-issuer.js';
import { UserDirectory } from './users.js';

export { ClientRegistry } from './client-registry.js';
export { parseClientRegistration, ROLES, type ClientRegistration, type Role } from './client-registration.js';
export { storePatientDirectory, type PatientDirectory, type PatientSummary } from './patient-directory.js';
export { UserDirectory } from './users.js';

export interface AuthServerDeps {
  /** `config.auth` (builtin mode): issuer, audience, skew, lifetimes, rate limit. */
  readonly auth: AuthConfig;
  /** The FHIR base URL: what an authorization request's `aud` must name. */
  readonly baseUrl: string;
  /** Keys (`keys/auth-signing-key.json`), `clients.json`, `users.json` and the `auth/` state live here. */
  readonly dataDir: string;
  readonly patients: PatientDirectory;
  readonly logger?: Logger;
  /** Clock (ms since the epoch); tests move it. */
  readonly now?: () => number;
}

export interface AuthServer {
  /** express Router; mount at `/auth` (the issuer's path): authorize, login, approve, token, jwks. */
  readonly router: ReturnType<typeof authRouter>;
  /** The `/.well-known/smart-configuration` document. */
  smartConfiguration(): Record<string, unknown>;
  /** Public keys that verify this server's access tokens. */
  jwks(): Promise<JSONWebKeySet>;
  readonly registry: ClientRegistry;
  readonly users: UserDirectory;
  close(): Promise<void>;
}

/**
 * The built-in SMART authorization server (SMART App Launch 2.x,
 * https://hl7.org/fhir/smart-app-launch/; Backend Services,
 * https://hl7.org/fhir/smart-app-launch/backend-services.html): signs ES256 access tokens for
 * the FHIR gate to verify against `jwks()`. Opens its durable state in `dataDir`; call
 * `close()` on shutdown.
 */
export async function createAuthServer(deps: AuthServerDeps): Promise<AuthServer> {
  const now = deps.now ?? Date.now;
  const issuer = deps.auth.issuer;
  const key = await loadSigningKey(deps.dataDir);
  const registry = ClientRegistry.open(deps.dataDir, (err) => deps.logger?.error({ err: err.message }, 'clients.json changed but is invalid; the previous registry stays in force'));
  const users = await UserDirectory.open(deps.dataDir);
  const state: AuthState = openAuthState(deps.dataDir);
  const replay = new ReplayCache(state);
  const codes = new AuthorizationCodes(state);
  const refreshTokens = new RefreshTokens(state, deps.auth.refreshTokenTtlSeconds * 1000);
  const tokens = new TokenIssuer(key, { issuer, audience: deps.auth.audience, ttlSeconds: deps.auth.accessTokenTtlSeconds }, refreshTokens);

  const router = authRouter({
    token: {
      registry,
      replay,
      codes,
      refreshTokens,
      tokens,
      limiter: new RateLimiter(deps.auth.tokenRateLimitPerMinute, now),
      tokenEndpoint: `${issuer}/token`,
      clockSkewSeconds: deps.auth.clockSkewSeconds,
      now,
    },
    launch: new LaunchFlow({
      registry,
      users,
      patients: deps.patients,
      pending: new PendingAuthorizations(now),
      codes,
      loginLimiter: new RateLimiter(deps.auth.tokenRateLimitPerMinute, now),
      audiences: [...new Set([deps.baseUrl, deps.auth.audience].map((u) => u.replace(/\/+$/, '')))],
      issuer,
      now,
      ...(deps.logger ? { logger: deps.logger } : {}),
    }),
    publicJwks: key.publicJwks,
    secureCookie: issuer.startsWith('https:'),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });

  const configuration = smartConfiguration(issuer);
  return {
    router,
    smartConfiguration: () => structuredClone(configuration),
    // The same frozen object every time, so a verifier can cache what it derives from it.
    jwks: async () => key.publicJwks,
    registry,
    users,
    close: () => state.close(),
  };
}
