import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileOnce } from '../anchor/durable-file.js';
import { isValidKeyName, verifierKeyOf } from './note.js';

export interface LogKey {
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** `<name>+<key ID>+<base64 key>`: what a verifier needs, safe to publish. */
  verifierKey: string;
  file: string;
  created: boolean;
}

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private key from its 32-byte RFC 8032 seed. */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new TypeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The key file of a key name: readable, and distinct for names that differ only in punctuation. */
export function logKeyFile(dir: string, name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  const tag = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return join(dir, `${safe}-${tag}.ed25519.pem`);
}

/**
 * The log's Ed25519 signing key, kept as a PKCS#8 PEM file (mode 0600) in `dir` and created on
 * first use. Creation is atomic: the key is written and fsync'd under a temporary name, then
 * hard-linked into place, so a crash never leaves a half-written key and two processes racing
 * to create it end up using the same one.
 */
export async function loadOrCreateLogKey(dir: string, name: string): Promise<LogKey> {
  if (!isValidKeyName(name)) throw new TypeError(`invalid key name ${JSON.stringify(name)}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = logKeyFile(dir, name);
  let created = false;
  let pem = await readIfExists(file);
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const text = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    created = await createFileOnce(dir, file, text, 0o600);
    pem = await readFile(file, 'utf8');
  }
  await chmod(file, 0o600);
  const privateKey = createPrivateKey({ key: pem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} does not hold an Ed25519 key`);
  const publicKey = createPublicKey(privateKey);
  return { name, privateKey, publicKey, verifierKey: verifierKeyOf(name, publicKey), file, created };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
