import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createFileOnce } from '../../files/durable-files.js';

const KEY_BYTES = 32;

/**
 * The key that signs paging cursors. A configured secret wins, so processes on different hosts
 * can share it; otherwise one random key is created in `<dataDir>/keys/cursor.key` and reused,
 * so cursors survive a restart and are valid in every process that shares the directory.
 */
export function loadCursorKey(opts: { dataDir: string; secret?: string }): Buffer {
  if (opts.secret !== undefined) {
    // Hashing lets any long passphrase serve; the domain label keeps this key apart from
    // any other use someone might make of the same secret.
    return createHash('sha256').update('custodian/cursor-key/v1\0').update(opts.secret).digest();
  }
  const file = join(opts.dataDir, 'keys', 'cursor.key');
  // Linked into place: a reader never sees a half-written file, and racing processes agree on one key.
  const text = createFileOnce(file, `${randomBytes(KEY_BYTES).toString('base64url')}\n`);
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== KEY_BYTES) {
    throw new Error(`${file} does not hold a ${KEY_BYTES}-byte base64url key; remove it to have a new one made (outstanding paging links then stop working)`);
  }
  return key;
}
