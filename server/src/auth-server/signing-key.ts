import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { createFileOnce, readIfExists } from '../files/durable-files.js';

/** The algorithm the built-in authorization server signs access tokens with. */
export const SIGNING_ALG = 'ES256';

export interface SigningKey {
  readonly privateKey: CryptoKey;
  /** RFC 7638 thumbprint of the public key; the `kid` of every token it signs. */
  readonly kid: string;
  readonly publicJwks: JSONWebKeySet;
}

/**
 * Loads the ES256 signing key from `<dataDir>/keys/auth-signing-key.json` (a private JWK,
 * mode 0600), creating it on first start. Several processes sharing the directory end up with
 * the same key (the first writer wins).
 */
export async function loadSigningKey(dataDir: string): Promise<SigningKey> {
  const file = join(dataDir, 'keys', 'auth-signing-key.json');
  const text = readIfExists(file) ?? createFileOnce(file, await newPrivateJwkText());
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new Error(`${file} is not a JSON Web Key; remove it to have a new one made (tokens signed by the old key then stop verifying)`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new Error(`${file} does not hold a P-256 private key; remove it to have a new one made`);
  }
  const privateKey = (await importJWK(jwk, SIGNING_ALG)) as CryptoKey;
  const { kty, crv, x, y } = jwk;
  const publicJwk: JWK = { kty, crv, x, y };
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return Object.freeze({
    privateKey,
    kid,
    publicJwks: Object.freeze({ keys: Object.freeze([Object.freeze({ ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' })]) as JWK[] }),
  });
}

async function newPrivateJwkText(): Promise<string> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  return `${JSON.stringify({ ...(await exportJWK(privateKey)), alg: SIGNING_ALG, use: 'sig' })}\n`;
}
