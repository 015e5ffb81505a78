import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthorizeRequest } from './authorize-request.js';
import type { UserRecord } from './users.js';

/** How long a user has to sign in and approve. */
export const PENDING_LIFETIME_MS = 10 * 60_000;
const MAX_PENDING = 10_000;
export const MAX_FAILED_LOGINS = 5;

export interface PendingAuthorization {
  readonly id: string;
  /** Echoed in every form; must come back with the cookie that names this id. */
  readonly csrf: string;
  readonly createdAtMs: number;
  readonly request: AuthorizeRequest;
  user?: UserRecord;
  failedLogins: number;
}

/**
 * Sign-ins in progress, in memory: they live for minutes, and one lost to a restart only
 * means signing in again. The browser holds the id in an HttpOnly SameSite=Lax cookie and each
 * form carries both the id and a CSRF token, so a form posted from another site (which
 * carries neither the cookie nor the token) is refused.
 */
export class PendingAuthorizations {
  private readonly pending = new Map<string, PendingAuthorization>();

  constructor(private readonly now: () => number = Date.now) {}

  start(request: AuthorizeRequest): PendingAuthorization {
    const nowMs = this.now();
    if (this.pending.size >= MAX_PENDING) this.sweep(nowMs);
    const p: PendingAuthorization = {
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      createdAtMs: nowMs,
      request,
      failedLogins: 0,
    };
    this.pending.set(p.id, p);
    return p;
  }

  /** The pending authorization named by the form, if the cookie and CSRF token agree and it is still fresh. */
  find(formId: string | undefined, cookieId: string | undefined, csrf: string | undefined): PendingAuthorization | undefined {
    if (!formId || !cookieId || !csrf || !same(formId, cookieId)) return undefined;
    const p = this.pending.get(formId);
    if (!p || !same(csrf, p.csrf)) return undefined;
    if (this.now() - p.createdAtMs > PENDING_LIFETIME_MS) {
      this.pending.delete(p.id);
      return undefined;
    }
    return p;
  }

  finish(id: string): void {
    this.pending.delete(id);
  }

  private sweep(nowMs: number): void {
    for (const [id, p] of this.pending) if (nowMs - p.createdAtMs > PENDING_LIFETIME_MS) this.pending.delete(id);
    for (const id of this.pending.keys()) {
      if (this.pending.size < MAX_PENDING) break;
      this.pending.delete(id);
    }
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
