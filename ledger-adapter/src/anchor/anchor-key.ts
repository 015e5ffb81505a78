import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { anchorKeyId, rawAnchorPublicKey } from './anchor-entry.js';
import { createFileOnce } from './durable-file.js';

export const ANCHOR_KEY_FILE = 'anchor-key.ed25519.pem';

export interface AnchorKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM of the public key: what to hand a third party to check the chain and receipts. */
  publicKeyPem: string;
  /** Base64 of the raw 32-byte public key (the same key, compact). */
  publicKeyBase64: string;
  keyId: string;
  file: string;
  created: boolean;
}

/**
 * The anchor chain's own Ed25519 key, separate from the log key (a leaked log key must not
 * also let someone rewrite anchors, and the other way round). PKCS#8 PEM, mode 0600, in the
 * anchor directory; created on first use, atomically.
 */
export async function loadOrCreateAnchorKey(dir: string): Promise<AnchorKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, ANCHOR_KEY_FILE);
  let created = false;
  let pem = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    created = await createFileOnce(dir, file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    pem = await readFile(file, 'utf8');
  }
  await chmod(file, 0o600);
  const privateKey = createPrivateKey({ key: pem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} does not hold an Ed25519 key`);
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }) as string,
    publicKeyBase64: rawAnchorPublicKey(publicKey),
    keyId: anchorKeyId(publicKey),
    file,
    created,
  };
}
