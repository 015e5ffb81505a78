import type { AuthState } from './auth-state.js';
import { purgeExpired } from './auth-state.js';
import { secretKey } from './token-hash.js';

/**
 * Remembers each client assertion's `jti` until the assertion expires (RFC 7523 §3 item 7;
 * SMART Backend Services: "the jti value SHALL NOT be reused"), durably, so a captured
 * assertion cannot be replayed, not even after a restart.
 */
export class ReplayCache {
  private claims = 0;

  constructor(private readonly state: AuthState) {}

  /** Marks (clientId, jti) used until `expiresAtMs`; false when it was already used. */
  async claim(clientId: string, jti: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const db = this.state.assertionJtis;
    const key = secretKey('jti', clientId, jti);
    const fresh = await db.transaction(() => {
      const until = db.get(key);
      if (until !== undefined && until >= nowMs) return false;
      db.put(key, expiresAtMs);
      return true;
    });
    await this.state.root.flushed;
    // Entries outlive their use by minutes at most; sweeping now and then keeps the db small.
    if (++this.claims % 1000 === 0) await purgeExpired(db, nowMs, (v) => v);
    return fresh;
  }
}
