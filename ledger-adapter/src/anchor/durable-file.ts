import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';

/** fsync a directory, so that a file created, renamed or linked in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `file` with `data` unless it exists, atomically: written and fsync'd under a
 * temporary name, then hard-linked into place (link fails if the name is taken, so two racing
 * creators agree on one file and a crash never leaves a half-written one). Returns whether
 * this call created it.
 */
export async function createFileOnce(dir: string, file: string, data: string, mode: number): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  let created = false;
  try {
    await link(tmp, file);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp);
  }
  await syncDir(dir);
  return created;
}
