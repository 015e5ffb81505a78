import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

/**
 * Which leaves carry a given key (`AuditEvent/1/_history/1` → [leaf indices]): how `$verify` and
 * the full audit find a version's leaf.
 *
 * Every leaf record already holds its key, so this index is derived data and lives outside the
 * log's durable transaction: keys are random (ids are UUIDs), so indexing them in the append
 * transaction dirtied one B-tree page per leaf and halved durable append throughput. Here it
 * sits in its own LMDB environment without fsync, committed (visible) before an append
 * resolves, and flushed at close. A `clean` flag, made durable when the index is opened for
 * writing and set again only by a clean close, tells whether what is on disk can be trusted:
 * after a crash (or an index file edited, lost or from another log) the index is rebuilt from
 * the leaves before the log accepts appends.
 *
 * `memory` mode keeps the index in a Map built from the leaves at open, for readers that must
 * not write to a log directory another process may be writing (the full audit).
 */
export const LEAF_KEYS_FILE = 'leaf-keys.mdb';

const EMPTY = Buffer.alloc(0);
const REBUILD_BATCH = 20_000;

/** The (index, key) of leaves [from, to), in index order. */
export type LeafKeyReader = (from: number, to: number) => Iterable<[number, string]>;

export interface LeafKeyIndex {
  /** Indices of the leaves carrying `key`, ascending (including ones not yet durable in the log). */
  indicesOf(key: string): number[];
  /** Records leaves [end - entries.length, end); resolves once visible to indicesOf. */
  add(entries: ReadonlyArray<[string, number]>, end: number): Promise<void>;
  close(): Promise<void>;
}

export async function openLeafKeyIndex(mode: 'persistent' | 'memory', dir: string, size: number, read: LeafKeyReader): Promise<LeafKeyIndex> {
  return mode === 'memory' ? MemoryKeyIndex.build(size, read) : PersistentKeyIndex.open(dir, size, read);
}

class MemoryKeyIndex implements LeafKeyIndex {
  private readonly byKey = new Map<string, number[]>();

  static build(size: number, read: LeafKeyReader): MemoryKeyIndex {
    const index = new MemoryKeyIndex();
    for (const [i, key] of read(0, size)) index.put(key, i);
    return index;
  }

  private put(key: string, i: number): void {
    const list = this.byKey.get(key);
    if (list) list.push(i);
    else this.byKey.set(key, [i]);
  }

  indicesOf(key: string): number[] {
    return [...(this.byKey.get(key) ?? [])];
  }

  add(entries: ReadonlyArray<[string, number]>): Promise<void> {
    for (const [key, i] of entries) this.put(key, i);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

type MetaKey = 'clean' | 'indexedUpTo';

class PersistentKeyIndex implements LeafKeyIndex {
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly root: RootDatabase,
    private readonly keys: Database<Buffer, [string, number]>,
    private readonly meta: Database<boolean | number, MetaKey>,
  ) {}

  static async open(dir: string, size: number, read: LeafKeyReader): Promise<PersistentKeyIndex> {
    const root = open({ path: join(dir, LEAF_KEYS_FILE), compression: false, maxDbs: 4, noSync: true });
    const index = new PersistentKeyIndex(root, root.openDB({ name: 'keys', encoding: 'binary' }), root.openDB({ name: 'meta' }));
    try {
      await index.prepare(size, read);
    } catch (err) {
      await root.close();
      throw err;
    }
    return index;
  }

  private async prepare(size: number, read: LeafKeyReader): Promise<void> {
    const upTo = this.meta.get('indexedUpTo');
    let from = this.meta.get('clean') === true && typeof upTo === 'number' && upTo <= size ? upTo : 0;
    if (from === 0) await this.keys.clearAsync();
    // Unclean from here on, durably, before anything else is written.
    await this.root.childTransaction(() => this.meta.put('clean', false));
    await this.sync();
    while (from < size) {
      const to = Math.min(size, from + REBUILD_BATCH);
      const batch = [...read(from, to)];
      await this.root.childTransaction(() => {
        for (const [i, key] of batch) this.keys.put([key, i], EMPTY);
        this.meta.put('indexedUpTo', to);
      });
      from = to;
    }
    if (size === 0) await this.root.childTransaction(() => this.meta.put('indexedUpTo', 0));
  }

  private sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      // RootDatabase.sync (mdb_env_sync, forced) is not in lmdb's type declarations.
      (this.root as unknown as { sync(cb: (err?: Error) => void): void }).sync((err) => (err ? reject(err) : resolve()));
    });
  }

  indicesOf(key: string): number[] {
    const out: number[] = [];
    for (const k of this.keys.getKeys({ start: [key, 0], end: [key, Number.MAX_SAFE_INTEGER] })) out.push((k as [string, number])[1]);
    return out;
  }

  add(entries: ReadonlyArray<[string, number]>, end: number): Promise<void> {
    const done = this.root.childTransaction(() => {
      for (const [key, i] of entries) this.keys.put([key, i], EMPTY);
      this.meta.put('indexedUpTo', end);
    });
    this.last = done.catch(() => undefined);
    return done.then(() => undefined);
  }

  async close(): Promise<void> {
    await this.last;
    await this.sync();
    await this.root.childTransaction(() => this.meta.put('clean', true));
    await this.sync();
    await this.root.close();
  }
}
