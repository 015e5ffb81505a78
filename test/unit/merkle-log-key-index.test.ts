import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { open } from 'lmdb';
import { LEAF_KEYS_FILE } from '../../ledger-adapter/src/log/leaf-key-index.js';
import { MerkleLog, type LeafEntry } from '../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';

/**
 * The key → leaves index is derived from the leaves and kept outside the log's durable
 * transaction (leaf-key-index.ts): it must answer like the leaves themselves after a clean
 * reopen, after a crash (index not closed cleanly), after the index file was edited, and in
 * memory mode.
 */
const ORIGIN = 'custodian.test/keys';
const privateKey = generateKeyPairSync('ed25519').privateKey;
const root = mkdtempSync(join(tmpdir(), 'custodian-leaf-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function entry(key: string): LeafEntry {
  const salt = newSalt();
  return { key, salt, leafHash: leafHashOf(salt, { key }) };
}

const KEYS = Array.from({ length: 60 }, (_, i) => `AuditEvent/${i % 7}/_history/1`);
const expected = (key: string) => KEYS.flatMap((k, i) => (k === key ? [i] : []));

async function filledLog(): Promise<string> {
  const dir = join(root, `log-${++dirs}`);
  const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey });
  await log.append(KEYS.slice(0, 25).map(entry));
  await log.append(KEYS.slice(25).map(entry));
  await log.close();
  return dir;
}

/** Edits the index file behind the log's back: one key's entries removed, a false one added, the clean flag as given. */
async function tamperIndex(dir: string, clean: boolean): Promise<void> {
  const env = open({ path: join(dir, LEAF_KEYS_FILE), compression: false, maxDbs: 4 });
  const keys = env.openDB<Buffer, [string, number]>({ name: 'keys', encoding: 'binary' });
  const meta = env.openDB<boolean | number, string>({ name: 'meta' });
  await env.childTransaction(() => {
    for (const i of expected('AuditEvent/3/_history/1')) keys.remove(['AuditEvent/3/_history/1', i]);
    keys.put(['AuditEvent/3/_history/1', 999], Buffer.alloc(0));
    meta.put('clean', clean);
  });
  await env.flushed;
  await env.close();
}

async function indicesAfterReopen(dir: string, keyIndex?: 'memory'): Promise<Map<string, number[]>> {
  const log = await MerkleLog.open({ dir, origin: ORIGIN, privateKey, ...(keyIndex ? { keyIndex } : {}) });
  try {
    return new Map([...new Set(KEYS)].map((k) => [k, log.leafIndicesOf(k)]));
  } finally {
    await log.close();
  }
}

describe('MerkleLog key index', () => {
  it('answers from the leaves after a clean reopen, and in memory mode', async () => {
    const dir = await filledLog();
    for (const mode of [undefined, 'memory'] as const) {
      const got = await indicesAfterReopen(dir, mode);
      for (const k of new Set(KEYS)) assert.deepEqual(got.get(k), expected(k), `${mode ?? 'persistent'} ${k}`);
    }
  });

  it('an index left unclean (a crash) is rebuilt from the leaves at open', async () => {
    const dir = await filledLog();
    await tamperIndex(dir, false);
    const got = await indicesAfterReopen(dir);
    assert.deepEqual(got.get('AuditEvent/3/_history/1'), expected('AuditEvent/3/_history/1'));
  });

  it('a clean index is trusted (no rescan at each start): the memory mode, built from the leaves, is what the full audit uses', async () => {
    const dir = await filledLog();
    await tamperIndex(dir, true);
    // Only entries below the log size count, so the false entry at 999 never shows.
    assert.deepEqual((await indicesAfterReopen(dir)).get('AuditEvent/3/_history/1'), []);
    assert.deepEqual((await indicesAfterReopen(dir, 'memory')).get('AuditEvent/3/_history/1'), expected('AuditEvent/3/_history/1'));
  });

  it('an index file that is missing is rebuilt', async () => {
    const dir = await filledLog();
    rmSync(join(dir, LEAF_KEYS_FILE), { force: true });
    rmSync(join(dir, `${LEAF_KEYS_FILE}-lock`), { force: true });
    const got = await indicesAfterReopen(dir);
    for (const k of new Set(KEYS)) assert.deepEqual(got.get(k), expected(k));
  });
});
