import { purgeExpired, type AuthState } from './auth-state.js';
import type { Grant } from './grant.js';
import { newSecret, secretKey } from './token-hash.js';

interface RefreshRecord {
  readonly familyId: string;
  readonly clientId: string;
  readonly grant: Grant;
  readonly expiresAtMs: number;
  readonly usedAtMs?: number;
}

interface FamilyRecord {
  /** No token of the family may outlive this (online_access families end with the sign-in). */
  readonly notAfterMs: number;
  /** Expiry of the family's newest token: after it the record can go. */
  readonly lastExpiresAtMs: number;
  readonly revokedAtMs?: number;
}

/** `notAfterMs` of families with no end but their tokens' own expiry (offline_access). */
export const NO_END = Number.MAX_SAFE_INTEGER;

export type Rotation =
  | { readonly ok: true; readonly grant: Grant; readonly refreshToken: string; readonly expiresAtMs: number }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'revoked' | 'wrong-client' | 'reused' }
  /** The request asked for scopes outside the original grant; the token is not spent. */
  | { readonly ok: false; readonly reason: 'scope'; readonly outside: readonly string[] };

/**
 * Refresh tokens (RFC 6749 §6) rotated on every use, with reuse detection (OAuth 2.0 Security
 * BCP, RFC 9700 §4.14.2): each token belongs to a family started by one authorization; using a
 * token that was already exchanged revokes the whole family, so whichever party (legitimate
 * client or thief) comes second locks both out and the user signs in again.
 */
export class RefreshTokens {
  private issued = 0;

  constructor(
    private readonly state: AuthState,
    private readonly ttlMs: number,
  ) {}

  /** Starts a family (one per authorization code) and returns its first token. */
  async start(familyId: string, grant: Grant, notAfterMs: number, nowMs: number): Promise<{ refreshToken: string; expiresAtMs: number }> {
    const token = newSecret();
    const expiresAtMs = Math.min(nowMs + this.ttlMs, notAfterMs);
    const families = this.state.refreshFamilies;
    const tokens = this.state.refreshTokens;
    await this.state.root.transaction(() => {
      // A family revoked before its first token (its code was replayed at once) stays revoked.
      const existing = families.get(familyId) as FamilyRecord | undefined;
      families.put(familyId, { ...existing, notAfterMs, lastExpiresAtMs: expiresAtMs } satisfies FamilyRecord);
      tokens.put(secretKey('refresh', token), { familyId, clientId: grant.clientId, grant, expiresAtMs } satisfies RefreshRecord);
    });
    await this.state.root.flushed;
    if (++this.issued % 500 === 0) await this.purge(nowMs);
    return { refreshToken: token, expiresAtMs };
  }

  /**
   * Exchanges `token` for a new one of the same family; the old one is spent. `scopes`, when
   * given, must lie within the original grant (RFC 6749 §6); a request that asks for more is
   * refused before anything is spent.
   */
  async rotate(token: string, clientId: string, nowMs: number, scopes?: readonly string[]): Promise<Rotation> {
    const families = this.state.refreshFamilies;
    const tokens = this.state.refreshTokens;
    const key = secretKey('refresh', token);
    const next = newSecret();
    const result = await this.state.root.transaction((): Rotation => {
      const record = tokens.get(key) as RefreshRecord | undefined;
      if (!record) return { ok: false, reason: 'unknown' };
      // A token presented by another client is not that client's business: treat it as unknown
      // to it, but do not let the attempt burn the owner's token.
      if (record.clientId !== clientId) return { ok: false, reason: 'wrong-client' };
      const family = families.get(record.familyId) as FamilyRecord | undefined;
      if (!family || family.revokedAtMs !== undefined) return { ok: false, reason: 'revoked' };
      if (record.usedAtMs !== undefined) {
        families.put(record.familyId, { ...family, revokedAtMs: nowMs } satisfies FamilyRecord);
        return { ok: false, reason: 'reused' };
      }
      if (record.expiresAtMs < nowMs) return { ok: false, reason: 'expired' };
      const outside = (scopes ?? []).filter((sc) => !record.grant.scopes.includes(sc));
      if (outside.length > 0) return { ok: false, reason: 'scope', outside };
      tokens.put(key, { ...record, usedAtMs: nowMs } satisfies RefreshRecord);
      const expiresAtMs = Math.min(nowMs + this.ttlMs, family.notAfterMs);
      tokens.put(secretKey('refresh', next), { ...record, expiresAtMs } satisfies RefreshRecord);
      families.put(record.familyId, { ...family, lastExpiresAtMs: expiresAtMs } satisfies FamilyRecord);
      return { ok: true, grant: record.grant, refreshToken: next, expiresAtMs };
    });
    await this.state.root.flushed;
    return result;
  }

  /** Revokes every token of a family (e.g. its authorization code was replayed). */
  async revokeFamily(familyId: string, nowMs: number): Promise<void> {
    const families = this.state.refreshFamilies;
    await families.transaction(() => {
      const family = families.get(familyId) as FamilyRecord | undefined;
      // A family that never got a token is recorded revoked too, so a later start() cannot revive it.
      families.put(familyId, {
        notAfterMs: family?.notAfterMs ?? NO_END,
        // Kept until every token the family could have issued has expired.
        lastExpiresAtMs: family?.lastExpiresAtMs ?? nowMs + this.ttlMs,
        revokedAtMs: nowMs,
      } satisfies FamilyRecord);
    });
    await this.state.root.flushed;
  }

  private async purge(nowMs: number): Promise<void> {
    await purgeExpired(this.state.refreshTokens, nowMs, (v) => (v as RefreshRecord).expiresAtMs);
    await purgeExpired(this.state.refreshFamilies, nowMs, (v) => (v as FamilyRecord).lastExpiresAtMs);
  }
}
