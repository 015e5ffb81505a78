import type { AuditEvent } from '@medplum/fhirtypes';
import type { Definitions } from '../fhir/definitions.js';
import { extended } from '../fhir/extended.js';
import { computeIndex } from '../fhir/search/index-values.js';
import { handOverToStore } from '../store/plan-commit.js';
import type { ResourceStore, WriteOp } from '../store/resource-store.js';

/** The audit trail could not be written: the request fails (503) and sends no data. */
export class AuditUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`The audit trail could not be written: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'AuditUnavailableError';
  }
}

export interface AuditSinkDeps {
  /** The ledgered store: a commit resolves once the events are durable and their leaves appended. */
  readonly store: ResourceStore;
  readonly defs: Definitions;
  readonly newId: () => string;
  readonly now: () => string;
  /** Most events in one store commit. */
  readonly maxBatch?: number;
}

/** Commits at once: one being written while another waits for its fsync (LMDB overlapping sync). */
const MAX_IN_FLIGHT = 2;

interface Waiting {
  readonly ops: WriteOp[];
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Stores AuditEvents durably before the response that caused them leaves (fail closed), with
 * group commit: while commits are in flight (at most two), every event recorded meanwhile waits
 * and goes out in the next single commit (one fsync, one log append for all of them). There is
 * no timer: an idle server commits each request's events at once, and a busy one batches as
 * much as arrives during a commit.
 */
export class AuditSink {
  private queue: Waiting[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;

  constructor(private readonly deps: AuditSinkDeps) {
    this.maxBatch = deps.maxBatch ?? 2000;
  }

  /**
   * Resolves once every event is stored and in the log; rejects with AuditUnavailableError otherwise.
   * The events are taken over: the stored versions share their objects (no copy), so the caller
   * builds them for this call (buildAuditEvents does) and never changes them afterwards.
   */
  record(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    let ops: WriteOp[];
    try {
      ops = events.map((e) => {
        const id = this.deps.newId();
        // Taken over (see above): the store may keep the event without a deep copy.
        const resource = handOverToStore(extended(e, { id }) as AuditEvent);
        return { kind: 'create' as const, resourceType: 'AuditEvent', id, resource, index: computeIndex(this.deps.defs, resource) };
      });
    } catch (err) {
      return Promise.reject(new AuditUnavailableError(err));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      this.flush();
    });
  }

  /**
   * Hands what waits to a new commit while fewer than MAX_IN_FLIGHT are running: the next
   * batch is built and written while the previous one waits for its fsync.
   */
  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const batch: Waiting[] = [];
      let n = 0;
      while (this.queue.length > 0 && (batch.length === 0 || n + (this.queue[0] as Waiting).ops.length <= this.maxBatch)) {
        const w = this.queue.shift() as Waiting;
        batch.push(w);
        n += w.ops.length;
      }
      this.inFlight++;
      this.deps.store.commit({ ops: batch.flatMap((w) => w.ops), now: this.deps.now() }).then(
        () => {
          for (const w of batch) w.resolve();
        },
        (err: unknown) => {
          const failure = new AuditUnavailableError(err);
          for (const w of batch) w.reject(failure);
        },
      ).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }
}
