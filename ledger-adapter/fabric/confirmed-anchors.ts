import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir } from '../src/anchor/durable-file.js';

/**
 * The latest anchor per origin that the event listener saw committed, kept in one small JSON
 * file. Each change replaces the file atomically (temporary file, fsync, rename, fsync of the
 * directory), so after a crash it holds either the state before an event or after it.
 */

export const CONFIRMED_FORMAT = 'custodian-fabric-confirmed/v1';

export interface ConfirmedAnchor {
  origin: string;
  size: number;
  /** Base64 root. */
  rootHash: string;
  sequence: number;
  txId: string;
  blockNumber: number;
  anchoredAt: string;
}

export async function loadConfirmed(file: string): Promise<Map<string, ConfirmedAnchor>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const problem = (why: string) => new Error(`${file} is not a confirmed-anchors file: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw problem('not JSON');
  }
  const doc = parsed as { format?: unknown; origins?: unknown };
  if (typeof doc !== 'object' || doc === null || doc.format !== CONFIRMED_FORMAT) throw problem(`format is not ${CONFIRMED_FORMAT}`);
  if (typeof doc.origins !== 'object' || doc.origins === null || Array.isArray(doc.origins)) throw problem('origins is not an object');
  const state = new Map<string, ConfirmedAnchor>();
  for (const [origin, value] of Object.entries(doc.origins as Record<string, unknown>)) {
    const c = value as Partial<ConfirmedAnchor>;
    const counts = [c.size, c.sequence, c.blockNumber].every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
    const texts = [c.rootHash, c.txId, c.anchoredAt].every((s) => typeof s === 'string');
    if (c.origin !== origin || !counts || !texts) throw problem(`the entry of ${origin} is malformed`);
    state.set(origin, c as ConfirmedAnchor);
  }
  return state;
}

export async function saveConfirmed(file: string, state: ReadonlyMap<string, ConfirmedAnchor>): Promise<void> {
  const origins = Object.fromEntries([...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const data = `${JSON.stringify({ format: CONFIRMED_FORMAT, origins }, null, 2)}\n`;
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tmp, file);
  await syncDir(dirname(file));
}
