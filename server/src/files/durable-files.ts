import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The two ways the server writes small files in DATA_DIR (keys, the client registry, demo
 * users, export job records). Both write the content aside first, so a reader (another
 * process, or this one after a crash) never sees a half-written file.
 */

function writeAside(file: string, content: string, mode: number): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode });
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `file` with `content` unless it exists. Linking fails when another process won the
 * race; then both use the winner's content. Returns the file's content either way.
 */
export function createFileOnce(file: string, content: string, mode = 0o600): string {
  const existing = readIfExists(file);
  if (existing !== undefined) return existing;
  const tmp = writeAside(file, content, mode);
  try {
    linkSync(tmp, file);
    syncDir(dirname(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const now = readIfExists(file);
  if (now === undefined) throw new Error(`${file} could not be created`);
  return now;
}

/** Replaces `file` atomically (rename over it) and durably (file and directory synced). */
export function replaceFile(file: string, content: string, mode = 0o600): void {
  const tmp = writeAside(file, content, mode);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
}

export function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
