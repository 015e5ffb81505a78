import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createFileOnce } from '../../files/durable-files.js';

export const DEID_KEY_BYTES = 32;

/**
 * The de-identification key, DATA_DIR/keys/deid.key: 32 random bytes (base64url), created
 * with mode 0600 on first use. Creation links the file into place, so two processes starting
 * together both end up with the one key that won, never with pseudonyms under a lost key.
 * A key readable by group or others, or of the wrong length, is refused rather than used.
 */
export function loadDeidKey(dataDir: string): Uint8Array {
  const file = join(dataDir, 'keys', 'deid.key');
  const text = createFileOnce(file, `${randomBytes(DEID_KEY_BYTES).toString('base64url')}\n`);
  if ((statSync(file).mode & 0o077) !== 0) throw new Error(`${file} is readable by group or others; make it mode 0600`);
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== DEID_KEY_BYTES) throw new Error(`${file} must hold ${DEID_KEY_BYTES} bytes (base64url), found ${key.length}`);
  return new Uint8Array(key);
}
