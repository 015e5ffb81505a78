import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEID_KEY_BYTES = 32;

/**
 * The de-identification key, DATA_DIR/keys/deid.key: 32 random bytes, created with mode 0600
 * on first use. The bytes are written and synced to a temporary file, which is then linked to
 * the final name; unlike rename, link fails when the name exists, so two processes starting
 * together both end up with the one key that won, never with pseudonyms under a lost key.
 * A key readable by group or others, or of the wrong length, is refused rather than used.
 */
export function loadDeidKey(dataDir: string): Uint8Array {
  const file = join(dataDir, 'keys', 'deid.key');
  const existing = readKey(file);
  if (existing) return existing;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(DEID_KEY_BYTES));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    const dirFd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const created = readKey(file);
  if (!created) throw new Error(`${file} could not be created`);
  return created;
}

function readKey(file: string): Uint8Array | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if ((statSync(file).mode & 0o077) !== 0) throw new Error(`${file} is readable by group or others; make it mode 0600`);
  if (bytes.length !== DEID_KEY_BYTES) throw new Error(`${file} must hold ${DEID_KEY_BYTES} bytes, found ${bytes.length}`);
  return new Uint8Array(bytes);
}
