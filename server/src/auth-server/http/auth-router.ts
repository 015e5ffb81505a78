import express, { type Router } from 'express';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import type { LaunchFlow } from '../launch-flow.js';
import type { RateLimiter } from '../rate-limit.js';
import type { TokenRequestDeps } from '../token-request.js';
import { mountLaunchRoutes } from './launch-routes.js';
import { noStore } from './oauth-response.js';
import { tokenRoute } from './token-route.js';

/** Form bodies of the OAuth endpoints are small; anything larger is not a token request. */
const FORM_LIMIT = '64kb';

export interface AuthRouterParts {
  readonly token: TokenRequestDeps & { readonly limiter: RateLimiter };
  readonly launch: LaunchFlow;
  readonly publicJwks: JSONWebKeySet;
  readonly secureCookie: boolean;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * The authorization server's HTTP surface, mounted at the issuer's path (`/auth`):
 * `GET authorize`, `POST login`, `POST approve`, `POST token`, `GET jwks`.
 */
export function authRouter(parts: AuthRouterParts): Router {
  const router = express.Router();
  const form = express.text({ type: 'application/x-www-form-urlencoded', limit: FORM_LIMIT });
  // Browser apps call the token endpoint and read the key set cross-origin; no cookies are involved there.
  const cors: express.RequestHandler = (_req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    next();
  };
  router.options(['/token', '/jwks'], cors, (_req, res) => {
    res.status(204).end();
  });
  router.get('/jwks', cors, (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(parts.publicJwks);
  });
  router.post('/token', cors, form, tokenRoute({ ...parts.token, ...(parts.logger ? { logger: parts.logger } : {}) }));
  router.use(['/login', '/approve'], form);
  mountLaunchRoutes(router, parts.launch, { secureCookie: parts.secureCookie, ...(parts.logger ? { logger: parts.logger } : {}) });
  // Body-parser failures (oversized or malformed bodies) answer in OAuth's terms, not as a 500.
  router.use(((err, _req, res, next) => {
    if (res.headersSent) return next(err);
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) parts.logger?.error({ err }, 'authorization server error');
    noStore(res);
    res.status(status).json({ error: status >= 500 ? 'server_error' : 'invalid_request', error_description: status === 413 ? 'request body too large' : 'malformed request' });
  }) as express.ErrorRequestHandler);
  return router;
}
