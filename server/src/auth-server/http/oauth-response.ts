import type { Response } from 'express';
import type { OAuthError } from '../oauth-error.js';

/** Token responses and errors must never be cached (RFC 6749 §5.1). */
export function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/** The RFC 6749 §5.2 JSON error body, with the error's status and headers (e.g. Retry-After). */
export function sendOAuthError(res: Response, err: OAuthError): void {
  noStore(res);
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json({ error: err.code, error_description: err.description });
}
