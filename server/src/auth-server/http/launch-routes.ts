import type { Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { queryString } from '../form-params.js';
import type { FlowResponse, LaunchFlow } from '../launch-flow.js';
import { PENDING_LIFETIME_MS } from '../pending-authorizations.js';
import { errorPage } from '../pages.js';

const COOKIE = 'custodian_authz';

/**
 * HTTP for the launch flow: `GET authorize`, `POST login`, `POST approve`. Pages carry headers
 * that keep them out of frames and caches; the sign-in cookie is HttpOnly, SameSite=Lax,
 * scoped to the authorization server's path (and Secure behind https).
 */
export function mountLaunchRoutes(router: Router, flow: LaunchFlow, opts: { secureCookie: boolean; logger?: Pick<Logger, 'error'> }): void {
  const send = (res: Response, req: Request, fn: () => Promise<FlowResponse>): void => {
    fn().then(
      (r) => write(req, res, r, opts.secureCookie),
      (err: unknown) => {
        opts.logger?.error({ err }, 'authorization endpoint failed');
        if (!res.headersSent) write(req, res, { kind: 'page', status: 500, html: errorPage('Something went wrong on the server.') }, opts.secureCookie);
      },
    );
  };
  router.get('/authorize', (req, res) => send(res, req, () => flow.authorize(queryString(req.originalUrl))));
  router.post('/login', (req, res) => send(res, req, () => flow.login(postOf(req))));
  router.post('/approve', (req, res) => send(res, req, () => flow.approve(postOf(req))));
}

function write(req: Request, res: Response, r: FlowResponse, secureCookie: boolean): void {
  res.setHeader('Cache-Control', 'no-store');
  if (r.kind === 'redirect') {
    res.redirect(302, r.location);
    return;
  }
  if (r.startSession !== undefined) {
    const maxAge = Math.floor(PENDING_LIFETIME_MS / 1000);
    res.setHeader('Set-Cookie', `${COOKIE}=${r.startSession}; Path=${req.baseUrl || '/'}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secureCookie ? '; Secure' : ''}`);
  }
  if (r.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(r.retryAfterSeconds));
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.status(r.status).type('html').send(r.html);
}

function postOf(req: Request) {
  return {
    form: new URLSearchParams(req.is('application/x-www-form-urlencoded') && typeof req.body === 'string' ? req.body : ''),
    sessionCookie: cookieOf(req, COOKIE),
    address: req.socket.remoteAddress ?? 'unknown',
  };
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
