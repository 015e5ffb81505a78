import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { validateCheckpoint } from './anchor-rules.js';
import {
  EquivocationError,
  InvalidCheckpointError,
  LedgerRejectedError,
  LedgerUnavailableError,
  OutOfOrderError,
  type AnchorReceipt,
  type CheckpointToAnchor,
  type LedgerPort,
} from './ledger-port.js';

/**
 * The anchoring outbox: signed checkpoints wait here, durably, until a ledger has anchored
 * them. The log enqueues each checkpoint it signs; a worker feeds them to any LedgerPort.
 *
 *  - Durable: `enqueue` resolves only once the checkpoint is fsync'd.
 *  - Ordered: per origin, checkpoints go out in order of size.
 *  - At-least-once: an entry leaves the outbox only after the ledger returned a receipt for it
 *    (or for a larger size that covers it). A failure — even one after the ledger durably
 *    anchored — is retried with exponential backoff and jitter; the ledger's idempotency
 *    (same origin, size, root → first receipt) turns the repeat into a no-op, so nothing is
 *    anchored twice.
 *  - Survives restarts: reopening the outbox resumes from the oldest unanchored checkpoint.
 *  - Alarms, never skips: on EquivocationError (the ledger holds another root for the size),
 *    InvalidCheckpointError or LedgerRejectedError (the ledger refuses the transaction, e.g. an
 *    endorsement-policy failure) the worker stops, leaves the entry where it is and raises an
 *    alarm (`lag().alarm`, `onAlarm`). Reopening retries it and raises the alarm again.
 *
 * Coalescing (on by default): a receipt for size N covers every leaf below N, so of a burst of
 * pending checkpoints only the newest needs anchoring. The worker sends the largest pending
 * size of an origin and, once anchored, drops the smaller pending ones as covered (counted in
 * `lag().coalesced`). Their own roots are then never compared with the ledger: that two
 * checkpoints of one log are consistent is the log's promise (it never signs inconsistent
 * ones) and the full audit's and the Fabric chaincode's check (consistency proofs), not the
 * outbox's. After an outage this sends one transaction per origin instead of the backlog.
 * With `coalesce: false` every checkpoint is anchored, smallest size first. In both modes a
 * pending size below what the ledger already holds (OutOfOrderError: someone else anchored a
 * larger one) is dropped as covered.
 *
 * Storage: LMDB (`anchor-outbox.mdb` in `dir`), not files. The queue is read in key order
 * ([origin, size] sorts exactly as the worker sends), entries are removed as they are anchored
 * and a backlog of days of checkpoints during an outage costs nothing to list, which a
 * directory of files or a journal needing compaction would not give as simply. Every enqueue
 * awaits `flushed` (the fsync), as the rest of the project's LMDB writers do. Removals are not
 * awaited: a removal lost in a crash only re-sends a checkpoint the ledger dedupes.
 */

export const OUTBOX_FILE = 'anchor-outbox.mdb';

export interface AnchorAlarm {
  kind: 'equivocation' | 'invalid-checkpoint' | 'ledger-rejected';
  message: string;
  origin: string;
  size: number;
  /** ISO time the alarm was raised. */
  at: string;
  error: Error;
}

export interface AnchorLag {
  /** Checkpoints waiting (including ones a coming anchor will cover). */
  pending: number;
  /** signedAt of the oldest waiting checkpoint. */
  oldestPendingSignedAt?: string;
  /** Seconds since the oldest waiting checkpoint was signed; 0 when nothing waits. */
  lagSeconds: number;
  lastAnchored?: AnchorReceipt;
  /** The last failure of the ledger, and how many attempts in a row have failed since the last success. */
  lastError?: { message: string; code?: string; at: string; consecutiveFailures: number };
  alarm?: AnchorAlarm;
  running: boolean;
  /** Receipts obtained since this outbox was opened. */
  anchored: number;
  /** Checkpoints dropped as covered by a larger anchored size since this outbox was opened. */
  coalesced: number;
}

export interface AnchorOutboxOptions {
  dir: string;
  port: LedgerPort;
  /** Only the newest pending checkpoint of an origin is anchored (default true). */
  coalesce?: boolean;
  /**
   * Least time between two anchors (default 0: as soon as a checkpoint waits). With coalescing,
   * e.g. 10 s means at most one anchor per 10 s whatever the log's checkpoint rate: fewer
   * ledger transactions (and a shorter embedded chain) for a longer pending-anchor window.
   */
  minIntervalMs?: number;
  /** Backoff after a failure: initialMs·factor^(n-1), at most maxMs, with jitter (defaults 200 ms, ×2, 30 s). */
  retry?: { initialMs?: number; maxMs?: number; factor?: number };
  /** Milliseconds clock for the lag (injectable for tests). */
  now?: () => number;
  /** Jitter source in [0, 1) (injectable for tests). */
  random?: () => number;
  onAlarm?: (alarm: AnchorAlarm) => void;
  onAnchored?: (receipt: AnchorReceipt) => void;
}

interface StoredCheckpoint {
  origin: string;
  size: number;
  /** Base64 of the 32-byte root. */
  rootHash: string;
  note: string;
  signedAt: string;
}

interface PendingMeta {
  size: number;
  rootHash: string;
  signedAt: string;
}

type Key = [string, number];

const openDirs = new Set<string>();

export class AnchorOutbox {
  /** Per origin, pending checkpoints sorted by size (a mirror of the database). */
  private readonly pending = new Map<string, PendingMeta[]>();
  private readonly coalesce: boolean;
  private readonly retry: { initialMs: number; maxMs: number; factor: number };
  private readonly now: () => number;
  private readonly random: () => number;
  private running = false;
  private closed = false;
  private loop?: Promise<void>;
  private enqueueTail: Promise<void> = Promise.resolve();
  private generation = 0;
  private wakeWorker?: () => void;
  private stopSleep?: () => void;
  private drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private lastAnchored?: AnchorReceipt;
  private lastError?: AnchorLag['lastError'];
  private alarm?: AnchorAlarm;
  private failures = 0;
  private anchoredCount = 0;
  private coalescedCount = 0;

  private constructor(
    readonly dir: string,
    private readonly root: RootDatabase,
    private readonly db: Database<StoredCheckpoint, Key>,
    private readonly options: AnchorOutboxOptions,
  ) {
    this.coalesce = options.coalesce ?? true;
    this.retry = { initialMs: 200, maxMs: 30_000, factor: 2, ...options.retry };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    for (const { value } of db.getRange()) this.insert(value.origin, { size: value.size, rootHash: value.rootHash, signedAt: value.signedAt });
  }

  static async open(options: AnchorOutboxOptions): Promise<AnchorOutbox> {
    const dir = resolve(options.dir);
    if (openDirs.has(dir)) throw new Error(`the anchor outbox in ${dir} is already open in this process`);
    openDirs.add(dir);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // overlappingSync stays on (lmdb-js default): enqueue awaits `flushed`, so acknowledged means durable.
      const root = open({ path: join(dir, OUTBOX_FILE), compression: false });
      return new AnchorOutbox(dir, root, root as unknown as Database<StoredCheckpoint, Key>, options);
    } catch (err) {
      openDirs.delete(dir);
      throw err;
    }
  }

  /**
   * Durably queues a signed checkpoint for anchoring. Idempotent for a checkpoint already
   * waiting. A different root for a size already waiting is the log equivocating: refused with
   * EquivocationError, and an alarm.
   */
  async enqueue(cp: CheckpointToAnchor): Promise<void> {
    if (this.closed) throw new LedgerUnavailableError('anchor outbox is closed');
    const v = validateCheckpoint(cp);
    if (typeof cp.signedAt !== 'string' || Number.isNaN(Date.parse(cp.signedAt))) throw new InvalidCheckpointError('signedAt must be an ISO date');
    // One enqueue at a time: the check for a waiting checkpoint of the same size and the write
    // must not interleave with another enqueue of that size. The worker only ever sees
    // checkpoints that are already durable (they join the mirror after the fsync).
    return this.serialEnqueue(async () => {
      const same = this.pending.get(v.origin)?.find((p) => p.size === v.size);
      if (same) {
        if (same.rootHash === v.rootHash) return;
        const err = new EquivocationError(v.origin, v.size, same.rootHash, v.rootHash);
        this.raiseAlarm('equivocation', v.origin, v.size, err);
        throw err;
      }
      const stored: StoredCheckpoint = { ...v, signedAt: cp.signedAt };
      await this.db.put([v.origin, v.size], stored);
      await this.root.flushed;
      this.insert(v.origin, { size: v.size, rootHash: v.rootHash, signedAt: cp.signedAt });
      this.wakeWorker?.();
    });
  }

  private serialEnqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.enqueueTail.then(fn);
    this.enqueueTail = run.catch(() => undefined);
    return run;
  }

  /** Starts the worker (no-op when running). It stops by itself on an alarm. */
  start(): void {
    if (this.closed) throw new LedgerUnavailableError('anchor outbox is closed');
    if (this.running) return;
    this.running = true;
    // A generation per start: a worker left over from before a stop() ends at its next turn
    // instead of running beside the new one.
    const generation = ++this.generation;
    this.loop = this.run(generation)
      .catch((err: unknown) => {
        // Not a ledger failure (those are handled in run): the outbox itself broke. Say so and stop.
        this.lastError = { message: `outbox worker stopped: ${(err as Error)?.message ?? String(err)}`, at: new Date(this.now()).toISOString(), consecutiveFailures: this.failures };
        this.rejectDrains(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        if (this.generation === generation) this.running = false;
      });
  }

  /** Stops the worker after the attempt in flight; resolves once it has stopped. */
  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    this.wakeWorker?.();
    this.stopSleep?.();
    await this.loop;
    this.rejectDrains(new Error('anchor outbox stopped'));
  }

  /** Resolves when nothing is pending; rejects on an alarm or when the worker stops first. */
  drain(): Promise<void> {
    if (this.pendingCount() === 0) return Promise.resolve();
    if (this.alarm) return Promise.reject(this.alarm.error);
    if (!this.running) return Promise.reject(new Error('anchor outbox is not running: start() it first'));
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  lag(): AnchorLag {
    let oldest: string | undefined;
    let oldestMs = Infinity;
    for (const list of this.pending.values()) {
      // A log signs larger sizes later, so the smallest pending size of an origin is its oldest.
      const first = list[0];
      const ms = first ? Date.parse(first.signedAt) : Infinity;
      if (ms < oldestMs) {
        oldestMs = ms;
        oldest = first.signedAt;
      }
    }
    return {
      pending: this.pendingCount(),
      oldestPendingSignedAt: oldest,
      lagSeconds: oldest === undefined ? 0 : Math.max(0, (this.now() - oldestMs) / 1000),
      lastAnchored: this.lastAnchored,
      lastError: this.lastError,
      alarm: this.alarm,
      running: this.running,
      anchored: this.anchoredCount,
      coalesced: this.coalescedCount,
    };
  }

  /** Stops the worker and closes the database. The ledger port is the caller's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    await this.enqueueTail;
    await this.root.flushed;
    await this.root.close();
    openDirs.delete(this.dir);
  }

  // -------------------------------------------------------------------------------------------

  private async run(generation: number): Promise<void> {
    while (this.generation === generation && !this.alarm) {
      const next = this.pickNext();
      if (!next) {
        await new Promise<void>((resolve) => (this.wakeWorker = resolve));
        this.wakeWorker = undefined;
        continue;
      }
      const stored = this.db.get([next.origin, next.size]);
      if (!stored) {
        // Mirror and database disagree only if a removal raced this read; take it as gone.
        this.removeUpTo(next.origin, next.size, next.size);
        continue;
      }
      const cp: CheckpointToAnchor = {
        origin: stored.origin,
        size: stored.size,
        rootHash: Buffer.from(stored.rootHash, 'base64'),
        note: stored.note,
        signedAt: stored.signedAt,
      };
      try {
        const receipt = await this.options.port.anchor(cp);
        this.failures = 0;
        this.anchoredCount++;
        this.lastAnchored = receipt;
        this.removeUpTo(cp.origin, receipt.size, cp.size);
        this.options.onAnchored?.(receipt);
        this.resolveDrainsIfEmpty();
        if (this.options.minIntervalMs) await this.sleep(this.options.minIntervalMs);
      } catch (err) {
        if (err instanceof EquivocationError) this.raiseAlarm('equivocation', cp.origin, cp.size, err);
        else if (err instanceof InvalidCheckpointError) this.raiseAlarm('invalid-checkpoint', cp.origin, cp.size, err);
        else if (err instanceof LedgerRejectedError) this.raiseAlarm('ledger-rejected', cp.origin, cp.size, err);
        else if (err instanceof OutOfOrderError) {
          // The ledger already holds a larger size, which covers every pending size below it.
          this.removeUpTo(cp.origin, err.latestSize - 1, -1);
          this.resolveDrainsIfEmpty();
        } else {
          this.failures++;
          const e = err as Error & { code?: unknown };
          this.lastError = {
            message: e?.message ?? String(err),
            code: typeof e?.code === 'string' ? e.code : undefined,
            at: new Date(this.now()).toISOString(),
            consecutiveFailures: this.failures,
          };
          await this.sleep(this.backoff(err));
        }
      }
    }
  }

  /** The origin whose oldest checkpoint waits longest; of it the newest (coalescing) or the smallest size. */
  private pickNext(): { origin: string; size: number } | undefined {
    let best: { origin: string; size: number } | undefined;
    let bestMs = Infinity;
    for (const [origin, list] of this.pending) {
      if (list.length === 0) continue;
      const ms = Date.parse(list[0].signedAt);
      if (best === undefined || ms < bestMs) {
        bestMs = ms;
        best = { origin, size: (this.coalesce ? list[list.length - 1] : list[0]).size };
      }
    }
    return best;
  }

  /** Removes pending checkpoints of `origin` up to `size`; any but `own` count as coalesced. */
  private removeUpTo(origin: string, size: number, own: number): void {
    const list = this.pending.get(origin);
    if (!list) return;
    let n = 0;
    while (n < list.length && list[n].size <= size) {
      const p = list[n++];
      void this.db.remove([origin, p.size]);
      if (p.size !== own) this.coalescedCount++;
    }
    list.splice(0, n);
    if (list.length === 0) this.pending.delete(origin);
  }

  private insert(origin: string, meta: PendingMeta): void {
    let list = this.pending.get(origin);
    if (!list) this.pending.set(origin, (list = []));
    let i = list.length;
    while (i > 0 && list[i - 1].size > meta.size) i--;
    list.splice(i, 0, meta);
  }

  private pendingCount(): number {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  private backoff(err: unknown): number {
    const { initialMs, maxMs, factor } = this.retry;
    const base = Math.min(maxMs, initialMs * factor ** Math.min(this.failures - 1, 60));
    const jittered = base / 2 + (base / 2) * this.random();
    const hinted = err instanceof LedgerUnavailableError ? err.retryAfterMs : undefined;
    return hinted === undefined ? jittered : Math.min(maxMs, Math.max(jittered, hinted));
  }

  /** Waits `ms`, or less if the worker is stopped. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopSleep = done;
    });
  }

  private raiseAlarm(kind: AnchorAlarm['kind'], origin: string, size: number, error: Error): void {
    this.alarm = { kind, message: error.message, origin, size, at: new Date(this.now()).toISOString(), error };
    this.options.onAlarm?.(this.alarm);
    this.wakeWorker?.();
    this.stopSleep?.();
    this.rejectDrains(error);
  }

  private resolveDrainsIfEmpty(): void {
    if (this.pendingCount() !== 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private rejectDrains(err: Error): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}

export function openAnchorOutbox(options: AnchorOutboxOptions): Promise<AnchorOutbox> {
  return AnchorOutbox.open(options);
}
