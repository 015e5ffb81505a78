import { createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
  const dir = join(opts.dataDir, 'keys');
  const file = join(dir, 'cursor.key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const existing = readKey(file);
  if (existing) return existing;
  // Write aside, then link into place: link fails if another process won the race, and
  // then everyone uses the winner's key. A reader never sees a half-written file.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${randomBytes(KEY_BYTES).toString('base64url')}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const key = readKey(file);
  if (!key) throw new Error(`${file} could not be created`);
  return key;
}

function readKey(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== KEY_BYTES) {
    throw new Error(`${file} does not hold a ${KEY_BYTES}-byte base64url key; remove it to have a new one made (outstanding paging links then stop working)`);
  }
  return key;
}
