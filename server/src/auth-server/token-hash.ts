import { createHash, randomBytes } from 'node:crypto';

/**
 * Codes and refresh tokens are bearer secrets: only their SHA-256 is stored, so a copy of
 * DATA_DIR does not hand out live credentials. 256 random bits make brute force pointless
 * and a plain (unsalted) hash sufficient.
 */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function secretKey(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('base64url');
}
