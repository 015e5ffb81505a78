/**
 * OAuth 2.0 error codes of the token endpoint (RFC 6749 §5.2,
 * https://www.rfc-editor.org/rfc/rfc6749#section-5.2) and of the authorization endpoint
 * (§4.1.2.1). `temporarily_unavailable` also answers rate limiting (with 429 + Retry-After).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'server_error'
  | 'temporarily_unavailable';

const STATUS: Readonly<Record<OAuthErrorCode, number>> = {
  invalid_request: 400,
  // §5.2: 401 for a failed client authentication.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  server_error: 500,
  temporarily_unavailable: 503,
};

/** Thrown anywhere below the OAuth endpoints; the endpoint turns it into the JSON error body. */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly status: number = STATUS[code],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(`${code}: ${description}`);
  }
}
