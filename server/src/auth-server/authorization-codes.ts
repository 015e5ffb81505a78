import { randomUUID } from 'node:crypto';
import { purgeExpired, type AuthState } from './auth-state.js';
import type { Grant } from './grant.js';
import { newSecret, secretKey } from './token-hash.js';

/** RFC 6749 §4.1.2 recommends at most 10 minutes; SMART apps redeem at once. */
export const CODE_LIFETIME_MS = 60_000;

export interface CodeRecord {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly grant: Grant;
  readonly expiresAtMs: number;
  /** Refresh tokens issued from this code belong to this family, so a replayed code can revoke them. */
  readonly familyId: string;
  readonly usedAtMs?: number;
}

export type Redemption =
  | { readonly ok: true; readonly record: CodeRecord }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' }
  | { readonly ok: false; readonly reason: 'reused'; readonly familyId: string };

/**
 * Authorization codes: single use, bound to client, redirect URI and PKCE challenge, 60 s.
 * A second redemption is reported as `reused` with the family whose refresh tokens the
 * caller must revoke (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on
 * that authorization code").
 */
export class AuthorizationCodes {
  private issued = 0;

  constructor(private readonly state: AuthState) {}

  async issue(fields: Omit<CodeRecord, 'expiresAtMs' | 'familyId' | 'usedAtMs'>, nowMs: number): Promise<string> {
    const code = newSecret();
    const record: CodeRecord = { ...fields, expiresAtMs: nowMs + CODE_LIFETIME_MS, familyId: randomUUID() };
    await this.state.codes.put(secretKey('code', code), record);
    await this.state.root.flushed;
    // Used codes are kept a while after expiry so late replays are still recognised as such.
    if (++this.issued % 500 === 0) await purgeExpired(this.state.codes, nowMs - 10 * CODE_LIFETIME_MS, (v) => (v as CodeRecord).expiresAtMs);
    return code;
  }

  /** Marks the code used (atomically with reading it) and returns what it was issued for. */
  async redeem(code: string, nowMs: number): Promise<Redemption> {
    const db = this.state.codes;
    const key = secretKey('code', code);
    const result = await db.transaction((): Redemption => {
      const record = db.get(key) as CodeRecord | undefined;
      if (!record) return { ok: false, reason: 'unknown' };
      if (record.usedAtMs !== undefined) return { ok: false, reason: 'reused', familyId: record.familyId };
      db.put(key, { ...record, usedAtMs: nowMs });
      if (record.expiresAtMs < nowMs) return { ok: false, reason: 'expired' };
      return { ok: true, record };
    });
    await this.state.root.flushed;
    return result;
  }
}
