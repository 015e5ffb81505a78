import { ASSERTION_ALGORITHMS } from './client-assertion.js';

/**
 * The SMART configuration document (SMART App Launch 2.x "Conformance",
 * https://hl7.org/fhir/smart-app-launch/conformance.html), served at
 * `/.well-known/smart-configuration` and `<FHIR base>/.well-known/smart-configuration`.
 * It states exactly what this server implements: standalone launch only (no EHR launch, no
 * OpenID Connect id_token, no POST to authorize), public and asymmetric confidential clients,
 * backend services, offline/online refresh, v1 and v2 scopes.
 */
export function smartConfiguration(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    scopes_supported: [
      'launch/patient',
      'fhirUser',
      'offline_access',
      'online_access',
      'patient/*.cruds',
      'patient/*.rs',
      'user/*.cruds',
      'user/*.rs',
      'system/*.cruds',
      'system/*.rs',
      'patient/*.read',
      'patient/*.write',
      'user/*.read',
      'user/*.write',
      'system/*.read',
      'system/*.write',
    ],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [
      'launch-standalone',
      'client-public',
      'client-confidential-asymmetric',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
  };
}
