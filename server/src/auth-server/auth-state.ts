import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

/**
 * The authorization server's durable state in `<dataDir>/auth` (LMDB, like the embedded
 * store): used assertion `jti`s, authorization codes and refresh tokens. LMDB's write
 * transactions make "check, then mark used" atomic across the processes that share the
 * directory, and every writer awaits `flushed`, so a restart (or a crash) forgets nothing that
 * was acknowledged: a replayed assertion or code is refused after a restart too.
 */
export interface AuthState {
  readonly root: RootDatabase;
  /** sha256(client_id, jti) → expiry (ms). */
  readonly assertionJtis: Database<number, string>;
  /** sha256(code) → CodeRecord. */
  readonly codes: Database<unknown, string>;
  /** sha256(refresh token) → RefreshRecord. */
  readonly refreshTokens: Database<unknown, string>;
  /** family id → FamilyRecord. */
  readonly refreshFamilies: Database<unknown, string>;
  close(): Promise<void>;
}

export function openAuthState(dataDir: string): AuthState {
  const path = join(dataDir, 'auth');
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const root = open({ path, compression: false, maxDbs: 8 });
  return {
    root,
    assertionJtis: root.openDB<number, string>({ name: 'assertion-jti' }),
    codes: root.openDB<unknown, string>({ name: 'codes' }),
    refreshTokens: root.openDB<unknown, string>({ name: 'refresh-tokens' }),
    refreshFamilies: root.openDB<unknown, string>({ name: 'refresh-families' }),
    close: () => root.close(),
  };
}

/** Removes entries whose expiry (as read by `expiresAt`) is before `nowMs`. */
export async function purgeExpired<V>(db: Database<V, string>, nowMs: number, expiresAt: (v: V) => number): Promise<number> {
  const stale: string[] = [];
  for (const { key, value } of db.getRange({})) if (expiresAt(value) < nowMs) stale.push(key);
  if (stale.length === 0) return 0;
  await db.transaction(() => {
    for (const key of stale) {
      const v = db.get(key);
      if (v !== undefined && expiresAt(v) < nowMs) db.remove(key);
    }
  });
  return stale.length;
}
