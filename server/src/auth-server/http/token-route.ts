import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { OAuthParams } from '../form-params.js';
import { OAuthError } from '../oauth-error.js';
import type { RateLimiter } from '../rate-limit.js';
import { handleTokenRequest, type TokenRequestDeps } from '../token-request.js';
import { noStore, sendOAuthError } from './oauth-response.js';

/**
 * `POST /auth/token` over HTTP: rate-limited per client address (429 + Retry-After), form
 * encoded only, no HTTP client authentication (private_key_jwt or a public client_id instead),
 * then the grant itself (`handleTokenRequest`). Unexpected failures are a 500 server_error,
 * logged; bad input never is.
 */
export function tokenRoute(deps: TokenRequestDeps & { readonly limiter: RateLimiter; readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'> }): RequestHandler {
  return (req: Request, res: Response) => {
    void respond(req, res, deps);
  };
}

async function respond(req: Request, res: Response, deps: TokenRequestDeps & { readonly limiter: RateLimiter }): Promise<void> {
  try {
    const decision = deps.limiter.take(req.socket.remoteAddress ?? 'unknown');
    if (!decision.ok) {
      throw new OAuthError('temporarily_unavailable', 'too many token requests from this address; retry later', 429, {
        'Retry-After': String(decision.retryAfterSeconds),
      });
    }
    if (!req.is('application/x-www-form-urlencoded')) {
      throw new OAuthError('invalid_request', 'the token request must be application/x-www-form-urlencoded');
    }
    if (req.headers.authorization !== undefined) {
      throw new OAuthError('invalid_client', 'HTTP client authentication (client_secret_basic) is not supported; use a private_key_jwt client_assertion, or client_id for a public client');
    }
    const params = OAuthParams.parse(typeof req.body === 'string' ? req.body : '');
    const body = await handleTokenRequest(params, deps);
    noStore(res);
    res.status(200).json(body);
  } catch (err) {
    if (err instanceof OAuthError) {
      sendOAuthError(res, err);
      return;
    }
    deps.logger?.error({ err }, 'token endpoint failed');
    sendOAuthError(res, new OAuthError('server_error', 'the token request could not be completed'));
  }
}
