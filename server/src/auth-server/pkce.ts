import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * PKCE (RFC 7636, https://www.rfc-editor.org/rfc/rfc7636). Only S256: SMART App Launch 2.x
 * requires it and forbids `plain`.
 */

/** §4.1: 43-128 characters from the unreserved set. */
export function isValidCodeVerifier(verifier: string): boolean {
  return /^[A-Za-z0-9._~-]{43,128}$/.test(verifier);
}

/** An S256 challenge is the base64url (no padding) of a SHA-256 digest: 43 characters. */
export function isValidS256Challenge(challenge: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(challenge);
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** §4.6: BASE64URL(SHA256(verifier)) == challenge, compared in constant time. */
export function verifyS256(verifier: string, challenge: string): boolean {
  if (!isValidCodeVerifier(verifier) || !isValidS256Challenge(challenge)) return false;
  return timingSafeEqual(Buffer.from(s256(verifier)), Buffer.from(challenge));
}
