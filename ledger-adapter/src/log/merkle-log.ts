import type { KeyObject } from 'node:crypto';
import { formatCheckpoint, openCheckpoint } from '../checkpoint/checkpoint.js';
import { isValidKeyName, signNote, verifierKeyOf } from '../checkpoint/note.js';
import { appendLeaf, frontierOf, frontierRoot, type Frontier } from '../merkle/frontier.js';
import { EMPTY_ROOT, bytesEqual, isHash } from '../merkle/hash.js';
import { SALT_SIZE } from '../merkle/leaf.js';
import { consistencyProof, inclusionProof, rootAt, verifyConsistency, type NodeReader } from '../merkle/proofs.js';
import { CheckpointConsistencyError, LogClosedError, LogCorruptError, LogFailedError, LogOverloadedError } from './errors.js';
import { openLeafKeyIndex, type LeafKeyIndex } from './leaf-key-index.js';
import { LOG_FORMAT, decodeLeaf, encodeLeaf, openLogEnv, type LogEnv } from './schema.js';

export interface LeafEntry {
  /** What the leaf is about (e.g. `AuditEvent/123`); leafIndicesOf(key) finds its leaves. */
  key: string;
  /** leafHashOf(salt, record): 32 bytes. */
  leafHash: Uint8Array;
  /** The leaf's 32-byte salt. */
  salt: Uint8Array;
}

export interface StoredLeaf extends LeafEntry {
  index: number;
  appendedAt: string;
}

export interface SignedCheckpoint {
  size: number;
  rootHash: Uint8Array;
  /** The C2SP signed note (checkpoint text + signature line). */
  note: string;
  signedAt: string;
}

export interface MerkleLogOptions {
  /** Directory of the log's LMDB environment (created if missing). */
  dir: string;
  /** Checkpoint origin line, e.g. `custodian.example/audit-log`. */
  origin: string;
  /** Signature key name; defaults to the origin (as tlog-checkpoint recommends). */
  keyName?: string;
  /** Ed25519 private key that signs checkpoints (see loadOrCreateLogKey). */
  privateKey: KeyObject;
  /** Milliseconds since the epoch; defaults to Date.now. */
  clock?: () => number;
  /** Entries allowed to wait for the next transaction before append rejects; default 100 000. */
  maxPending?: number;
  /**
   * Where the key → leaves index lives (leaf-key-index.ts): `persistent` (default) beside the
   * log, `memory` for a reader that must not write to the directory (the full audit).
   */
  keyIndex?: 'persistent' | 'memory';
}

export interface MerkleLogStats {
  /** Append transactions committed since open (each covers every append that waited for it). */
  transactions: number;
  /** Entries waiting for the next transaction. */
  pendingEntries: number;
}

interface PendingAppend {
  entries: LeafEntry[];
  resolve(indices: number[]): void;
  reject(err: unknown): void;
}

interface Written {
  end: number;
  root: Uint8Array;
  indices: number[][];
}

const DEFAULT_MAX_PENDING = 100_000;
/**
 * Transactions in flight at once: while one is being flushed to disk the next can commit
 * (LMDB overlapping sync), so the disk's fsync latency is not paid twice in a row.
 */
const MAX_IN_FLIGHT = 2;
/**
 * Nodes near the top of the tree are few and immutable: those in the top CACHED_LEVELS levels
 * (at least MIN_CACHED_LEVEL up) are kept in memory once read, at most ~2^(CACHED_LEVELS+1)
 * of them whatever the log's size, so a proof reads only its lower nodes from LMDB.
 */
const CACHED_LEVELS = 15;
const MIN_CACHED_LEVEL = 6;

/**
 * The durable append-only Merkle log (RFC 9162 tree, C2SP checkpoints).
 *
 * Appends are group-committed: appends made in the same turn, or while transactions are being
 * written, wait together for the next transaction, so one LMDB transaction and one fsync serve
 * all of them; indices follow the order of the calls. At most two transactions are in flight
 * (one committing while the previous one is flushed). `append` resolves only once its
 * transaction is flushed to disk, and only then do the new leaves count in `size`, proofs and
 * roots. Each transaction checks that the stored size is the one it was built on, so a failed
 * write can never be followed by a committed one that leaves a gap.
 *
 * Complete-subtree nodes are stored as they are completed (from the in-memory right edge, the
 * "frontier"), so roots and proofs at any size read O(log n) nodes.
 */
export class MerkleLog {
  readonly origin: string;
  readonly keyName: string;
  readonly verifierKey: string;

  private readonly env: LogEnv;
  private keyIndex!: LeafKeyIndex;
  private readonly privateKey: KeyObject;
  private readonly clock: () => number;
  private readonly maxPending: number;
  private readonly reader: NodeReader;
  /** level → index → hash, for the top levels only (see CACHED_LEVELS). */
  private readonly nodeCache = new Map<number, Map<number, Uint8Array>>();

  /** Leaves that are durable: what size, proofs and roots cover. */
  private durableSize: number;
  private currentRoot: Uint8Array;
  /** Leaves handed to a transaction (durable or in flight), and the right edge of that tree. */
  private assignedSize: number;
  private frontier: Frontier;
  private latest: SignedCheckpoint | undefined;

  private pending: PendingAppend[] = [];
  private pendingEntries = 0;
  private dispatchQueued = false;
  private inFlight = 0;
  private settled: Promise<void> = Promise.resolve();
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private transactions = 0;
  private failure: unknown;
  private closed = false;

  private constructor(env: LogEnv, opts: MerkleLogOptions, keyName: string) {
    this.env = env;
    this.origin = opts.origin;
    this.keyName = keyName;
    this.privateKey = opts.privateKey;
    this.verifierKey = verifierKeyOf(keyName, opts.privateKey);
    this.clock = opts.clock ?? Date.now;
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.reader = { node: (level, index) => this.readNode(level, index) };
    this.durableSize = 0;
    this.assignedSize = 0;
    this.frontier = [];
    this.currentRoot = Buffer.from(EMPTY_ROOT);
  }

  static async open(opts: MerkleLogOptions): Promise<MerkleLog> {
    if (typeof opts.origin !== 'string' || opts.origin.length === 0 || opts.origin.includes('\n')) {
      throw new TypeError('origin must be a non-empty single line');
    }
    const keyName = opts.keyName ?? opts.origin;
    if (!isValidKeyName(keyName)) throw new TypeError(`invalid key name ${JSON.stringify(keyName)} (pass keyName when the origin is not one)`);
    if (opts.privateKey?.type !== 'private' || opts.privateKey.asymmetricKeyType !== 'ed25519') {
      throw new TypeError('privateKey must be an Ed25519 private KeyObject');
    }
    if (opts.maxPending !== undefined && !(Number.isSafeInteger(opts.maxPending) && opts.maxPending > 0)) {
      throw new TypeError('maxPending must be a positive integer');
    }
    const env = openLogEnv(opts.dir);
    const log = new MerkleLog(env, opts, keyName);
    try {
      await log.load();
      log.keyIndex = await openLeafKeyIndex(opts.keyIndex ?? 'persistent', opts.dir, log.durableSize, (from, to) => log.leafKeys(from, to));
    } catch (err) {
      await env.root.close();
      throw err;
    }
    return log;
  }

  private async load(): Promise<void> {
    const { meta, leaves, checkpoints } = this.env;
    const format = meta.get('format');
    if (format === undefined) {
      if (meta.get('size') !== undefined || leaves.getKeysCount({ limit: 1 }) > 0) throw new LogCorruptError('log has data but no format marker');
      await this.env.root.childTransaction(() => {
        meta.put('format', LOG_FORMAT);
        meta.put('origin', this.origin);
        meta.put('size', 0);
      });
      await this.env.root.flushed;
    } else if (format !== LOG_FORMAT) {
      throw new LogCorruptError(`log format ${String(format)} is not ${LOG_FORMAT}`);
    }
    const origin = meta.get('origin');
    if (origin !== this.origin) throw new LogCorruptError(`the log in this directory has origin ${JSON.stringify(origin)}, not ${JSON.stringify(this.origin)}`);
    const size = meta.get('size');
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new LogCorruptError(`bad stored size ${String(size)}`);
    if ((size > 0 && leaves.get(size - 1) === undefined) || leaves.get(size) !== undefined) {
      throw new LogCorruptError(`stored size ${size} does not match the stored leaves`);
    }
    this.durableSize = size;
    this.assignedSize = size;
    this.frontier = frontierOf(this.reader, size);
    this.currentRoot = frontierRoot(this.frontier);

    const latestSize = meta.get('latestCheckpoint');
    if (latestSize !== undefined) {
      const latest = this.checkpointAt(latestSize as number);
      if (!latest) throw new LogCorruptError(`latest checkpoint ${String(latestSize)} is missing`);
      if (latest.size > size) {
        throw new LogCorruptError(`a checkpoint was signed at size ${latest.size} but the log holds only ${size} leaves`);
      }
      this.latest = latest;
    } else if (checkpoints.getKeysCount({ limit: 1 }) > 0) {
      throw new LogCorruptError('checkpoints are stored but none is marked latest');
    }
  }

  get size(): number {
    return this.durableSize;
  }

  stats(): MerkleLogStats {
    return { transactions: this.transactions, pendingEntries: this.pendingEntries };
  }

  /**
   * Appends leaves and resolves to their indices once they are durable (fsync'd). Rejects with
   * LogOverloadedError when more than `maxPending` entries would be waiting, LogFailedError
   * after a failed write, LogClosedError after close().
   */
  append(entries: LeafEntry[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new LogClosedError());
    if (this.failure !== undefined) return Promise.reject(new LogFailedError(this.failure));
    if (!Array.isArray(entries)) return Promise.reject(new TypeError('append takes an array of entries'));
    const copies: LeafEntry[] = [];
    for (const e of entries) {
      if (typeof e?.key !== 'string') return Promise.reject(new TypeError('entry key must be a string'));
      if (!isHash(e.leafHash)) return Promise.reject(new TypeError('entry leafHash must be 32 bytes'));
      if (!(e.salt instanceof Uint8Array) || e.salt.length !== SALT_SIZE) return Promise.reject(new TypeError(`entry salt must be ${SALT_SIZE} bytes`));
      copies.push({ key: e.key, leafHash: Buffer.from(e.leafHash), salt: Buffer.from(e.salt) });
    }
    if (copies.length === 0) return Promise.resolve([]);
    if (this.pendingEntries + copies.length > this.maxPending) {
      return Promise.reject(new LogOverloadedError(this.pendingEntries, this.maxPending));
    }
    return new Promise<number[]>((resolve, reject) => {
      this.pending.push({ entries: copies, resolve, reject });
      this.pendingEntries += copies.length;
      // On a microtask, so that appends made in the same turn share a transaction.
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        queueMicrotask(() => {
          this.dispatchQueued = false;
          this.dispatch();
        });
      }
    });
  }

  /** Hands everything waiting to a new transaction, while fewer than MAX_IN_FLIGHT are in flight. */
  private dispatch(): void {
    while (this.pending.length > 0 && this.inFlight < MAX_IN_FLIGHT && this.failure === undefined) {
      const batch = this.pending;
      this.pending = [];
      this.pendingEntries = 0;
      this.inFlight++;
      let written: Promise<Written>;
      try {
        written = this.write(batch);
      } catch (err) {
        written = Promise.reject(err);
      }
      this.settled = this.settle(batch, written, this.settled);
    }
    if (this.failure !== undefined) this.rejectPending();
  }

  /** Builds a batch's leaves and nodes on the assigned tree and queues its transaction. */
  private write(batch: PendingAppend[]): Promise<Written> {
    const start = this.assignedSize;
    const frontier = this.frontier;
    const appendedAt = this.clock();
    const leafRecords: Array<[number, Buffer]> = [];
    const keyEntries: Array<[string, number]> = [];
    const nodes: Array<[number, number, Buffer]> = [];
    const indices: number[][] = [];
    let next = start;
    for (const p of batch) {
      const mine: number[] = [];
      for (const e of p.entries) {
        for (const n of appendLeaf(frontier, next, e.leafHash)) {
          if (n.level > 0) nodes.push([n.level, n.index, n.hash as Buffer]);
        }
        leafRecords.push([next, encodeLeaf({ ...e, appendedAt })]);
        keyEntries.push([e.key, next]);
        mine.push(next++);
      }
      indices.push(mine);
    }
    const end = next;
    this.assignedSize = end;
    const root = frontierRoot(frontier);
    const env = this.env;
    const committed = env.root.childTransaction(() => {
      // Built on `start` leaves: if the store holds anything else (an earlier write failed,
      // another process writes here), write nothing.
      if (env.meta.get('size') !== start) throw new LogCorruptError(`stored size is not ${start}: an earlier write failed or another writer is active`);
      for (const [index, record] of leafRecords) env.leaves.put(index, record);
      for (const [level, index, hash] of nodes) env.nodes.put([level, index], hash);
      env.meta.put('size', end);
    });
    // The key index (its own environment, no fsync) is written beside the log's transaction,
    // not after it: lmdb-js resolves `committed` only once the transaction is flushed, so
    // chaining the index's commit behind it put one more write-thread round trip on every
    // append's path. Its entries past the durable size are never
    // returned (leafIndicesOf filters them), and a failed log write stops the log; an index
    // that got ahead of the log is rebuilt at the next open (indexedUpTo > size).
    const indexed = this.keyIndex.add(keyEntries, end);
    indexed.catch(() => undefined);
    return committed.then(async () => {
      await Promise.all([env.root.flushed, indexed]);
      return { end, root, indices };
    });
  }

  /** Acknowledges batches in order, once durable; a failure stops the log. */
  private async settle(batch: PendingAppend[], written: Promise<Written>, previous: Promise<void>): Promise<void> {
    let result: Written | undefined;
    let error: unknown;
    try {
      result = await written;
    } catch (err) {
      error = err;
    }
    await previous;
    if (result && this.failure === undefined) {
      this.transactions++;
      this.durableSize = result.end;
      this.currentRoot = result.root;
      batch.forEach((p, i) => p.resolve(result.indices[i]));
    } else {
      this.failure ??= error ?? new Error('an earlier write failed');
      for (const p of batch) p.reject(new LogFailedError(this.failure));
    }
    this.inFlight--;
    this.dispatch();
  }

  private rejectPending(): void {
    for (const p of this.pending) p.reject(new LogFailedError(this.failure));
    this.pending = [];
    this.pendingEntries = 0;
  }

  private readNode(level: number, index: number): Uint8Array {
    if (level === 0) {
      const record = this.env.leaves.get(index);
      if (!record || record.length < 64) throw new LogCorruptError(`missing leaf ${index}`);
      return record.subarray(0, 32);
    }
    const lowest = Math.max(MIN_CACHED_LEVEL, Math.ceil(Math.log2(Math.max(this.durableSize, 2))) - CACHED_LEVELS);
    let levelCache: Map<number, Uint8Array> | undefined;
    if (level >= lowest) {
      levelCache = this.nodeCache.get(level);
      const hit = levelCache?.get(index);
      if (hit) return hit;
    }
    const hash = this.env.nodes.get([level, index]);
    if (!hash || hash.length !== 32) throw new LogCorruptError(`missing node (${level}, ${index})`);
    if (level >= lowest) {
      if (!levelCache) {
        // The tree grew a level: drop the cached level that fell out of the top ones.
        for (const l of this.nodeCache.keys()) if (l < lowest) this.nodeCache.delete(l);
        levelCache = new Map();
        this.nodeCache.set(level, levelCache);
      }
      levelCache.set(index, hash);
    }
    return hash;
  }

  leaf(index: number): StoredLeaf | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.durableSize) return undefined;
    const stored = this.env.leaves.get(index);
    if (!stored) return undefined;
    const r = decodeLeaf(stored);
    return { index, key: r.key, leafHash: r.leafHash, salt: r.salt, appendedAt: new Date(r.appendedAt).toISOString() };
  }

  /** Indices of the durable leaves appended under `key`, ascending. */
  leafIndicesOf(key: string): number[] {
    return this.keyIndex.indicesOf(key).filter((index) => index < this.durableSize);
  }

  /** (index, key) of the stored leaves [from, to): what the key index is rebuilt from. */
  private *leafKeys(from: number, to: number): Iterable<[number, string]> {
    for (const { key, value } of this.env.leaves.getRange({ start: from, end: to })) {
      yield [key as number, decodeLeaf(value).key];
    }
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.durableSize) {
      throw new RangeError(`size ${size} is not between 0 and the log size ${this.durableSize}`);
    }
  }

  /** Root hash at `size` (default: the current size). */
  root(size: number = this.durableSize): Uint8Array {
    this.checkSize(size);
    if (size === this.durableSize) return Buffer.from(this.currentRoot);
    return rootAt(this.reader, size);
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    this.checkSize(size);
    return inclusionProof(this.reader, index, size);
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    this.checkSize(size2);
    return consistencyProof(this.reader, size1, size2);
  }

  /**
   * Signs a checkpoint at the current size if the log grew since the latest one, else returns
   * the latest. Before signing, the new tree is proven consistent with the latest signed
   * checkpoint (a consistency proof is generated and verified); if it is not, nothing is signed
   * and CheckpointConsistencyError is thrown. Resolves once the checkpoint is durable.
   */
  checkpoint(): Promise<SignedCheckpoint> {
    if (this.closed) return Promise.reject(new LogClosedError());
    const run = this.checkpointChain.then(() => this.signCheckpoint());
    this.checkpointChain = run.catch(() => undefined);
    return run;
  }

  private async signCheckpoint(): Promise<SignedCheckpoint> {
    const size = this.durableSize;
    const latest = this.latest;
    if (latest && latest.size === size) return latest;
    const rootHash = this.root(size);
    if (latest) {
      if (latest.size > size) throw new CheckpointConsistencyError(latest.size, size, 'the log is smaller than the signed checkpoint');
      if (latest.size === 0) {
        if (!bytesEqual(latest.rootHash, EMPTY_ROOT)) throw new CheckpointConsistencyError(0, size, 'the signed empty tree has a non-empty root');
      } else {
        let verdict;
        try {
          verdict = verifyConsistency(latest.size, size, latest.rootHash, rootHash, this.consistencyProof(latest.size, size));
        } catch (err) {
          throw new CheckpointConsistencyError(latest.size, size, (err as Error).message);
        }
        if (!verdict.ok) throw new CheckpointConsistencyError(latest.size, size, verdict.reason);
      }
    }
    const note = signNote(formatCheckpoint({ origin: this.origin, size, rootHash }), this.keyName, this.privateKey);
    const self = openCheckpoint(note, this.verifierKey);
    if (!self.ok || self.value.size !== size) throw new Error(`signed checkpoint does not open: ${self.ok ? 'size' : self.reason}`);
    const signed: SignedCheckpoint = { size, rootHash, note, signedAt: new Date(this.clock()).toISOString() };
    const { root, meta, checkpoints } = this.env;
    await root.childTransaction(() => {
      if (meta.get('latestCheckpoint') !== latest?.size) throw new LogCorruptError('latest checkpoint changed underneath the log');
      checkpoints.put(size, { rootHash: Buffer.from(rootHash), note, signedAt: signed.signedAt });
      meta.put('latestCheckpoint', size);
    });
    await root.flushed;
    this.latest = signed;
    return signed;
  }

  latestCheckpoint(): SignedCheckpoint | undefined {
    return this.latest;
  }

  checkpointAt(size: number): SignedCheckpoint | undefined {
    if (!Number.isSafeInteger(size) || size < 0) return undefined;
    const r = this.env.checkpoints.get(size);
    return r ? { size, rootHash: r.rootHash, note: r.note, signedAt: r.signedAt } : undefined;
  }

  /** Waits for the appends already made (they still resolve), then closes the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight > 0 || this.pending.length > 0) {
      if (this.inFlight === 0) this.dispatch();
      await this.settled;
    }
    await this.checkpointChain;
    await this.keyIndex.close();
    await this.env.root.close();
  }
}
