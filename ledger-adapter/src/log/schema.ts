import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

/**
 * On-disk layout of the Merkle log: one LMDB environment (`merkle-log.mdb` in the log's
 * directory). Every append is one transaction that writes the leaves, their index entries,
 * every complete-subtree node they complete and the new size together, so whatever the last
 * committed transaction holds is a whole tree.
 *
 *   leaves       index                 → leaf record, binary: leaf hash (32 bytes) || salt (32)
 *                                         || appendedAt (float64 big-endian, ms since the epoch)
 *                                         || key (UTF-8, the rest); the leaf hash doubles as
 *                                         the level-0 node of the tree
 *   nodes        [level, index]        → 32-byte hash of the complete subtree covering leaves
 *                                         [index·2^level, (index+1)·2^level), for level ≥ 1
 *   keys         (no longer written: the key → leaves index is derived from the leaves and
 *                kept beside the log in leaf-keys.mdb, see leaf-key-index.ts)
 *   checkpoints  size                  → CheckpointRecord (every checkpoint ever signed)
 *   meta         'format'              → LOG_FORMAT
 *                'origin'              → the checkpoint origin the log was created with
 *                'size'                → number of leaves
 *                'latestCheckpoint'    → size of the latest signed checkpoint
 */
export const LOG_FORMAT = 1;
export const LOG_FILE = 'merkle-log.mdb';

export interface LeafRecord {
  key: string;
  leafHash: Uint8Array;
  salt: Uint8Array;
  /** Milliseconds since the epoch, from the log's clock. */
  appendedAt: number;
}

const KEY_OFFSET = 72;

export function encodeLeaf(r: LeafRecord): Buffer {
  const key = Buffer.from(r.key, 'utf8');
  const out = Buffer.allocUnsafe(KEY_OFFSET + key.length);
  out.set(r.leafHash, 0);
  out.set(r.salt, 32);
  out.writeDoubleBE(r.appendedAt, 64);
  out.set(key, KEY_OFFSET);
  return out;
}

export function decodeLeaf(b: Buffer): LeafRecord {
  return {
    leafHash: b.subarray(0, 32),
    salt: b.subarray(32, 64),
    appendedAt: b.readDoubleBE(64),
    key: b.toString('utf8', KEY_OFFSET),
  };
}

export interface CheckpointRecord {
  rootHash: Uint8Array;
  note: string;
  signedAt: string;
}

export type MetaKey = 'format' | 'origin' | 'size' | 'latestCheckpoint';

export interface LogEnv {
  root: RootDatabase;
  leaves: Database<Buffer, number>;
  nodes: Database<Buffer, [number, number]>;
  checkpoints: Database<CheckpointRecord, number>;
  meta: Database<string | number, MetaKey>;
}

export function openLogEnv(dir: string): LogEnv {
  mkdirSync(dir, { recursive: true });
  // overlappingSync stays on (lmdb-js default): fsync runs outside the write lock; writers
  // await `flushed` before acknowledging, so acknowledged means durable.
  const root = open({ path: join(dir, LOG_FILE), compression: false, maxDbs: 8 });
  return {
    root,
    leaves: root.openDB({ name: 'leaves', encoding: 'binary' }),
    nodes: root.openDB({ name: 'nodes', encoding: 'binary' }),
    checkpoints: root.openDB({ name: 'checkpoints' }),
    meta: root.openDB({ name: 'meta' }),
  };
}
