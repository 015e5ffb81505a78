/** Typed failures of the Merkle log. Each carries a stable `code` for callers to branch on. */

/** More entries are waiting to be written than the log accepts; retry later (back off). */
export class LogOverloadedError extends Error {
  readonly code = 'LOG_OVERLOADED';
  constructor(
    readonly waiting: number,
    readonly limit: number,
  ) {
    super(`Merkle log overloaded: ${waiting} entries already waiting (limit ${limit})`);
    this.name = 'LogOverloadedError';
  }
}

/**
 * The log refused to sign: the tree at the new size is not an append-only extension of the
 * latest signed checkpoint. Signing it would put two inconsistent checkpoints into the world.
 */
export class CheckpointConsistencyError extends Error {
  readonly code = 'CHECKPOINT_INCONSISTENT';
  constructor(
    readonly signedSize: number,
    readonly newSize: number,
    readonly reason: string,
  ) {
    super(`refusing to sign a checkpoint at size ${newSize}: not consistent with the checkpoint signed at size ${signedSize} (${reason})`);
    this.name = 'CheckpointConsistencyError';
  }
}

/** The log's storage does not hold together (missing nodes, size mismatch, foreign origin). */
export class LogCorruptError extends Error {
  readonly code = 'LOG_CORRUPT';
  constructor(message: string) {
    super(message);
    this.name = 'LogCorruptError';
  }
}

/**
 * A write failed; the log accepts nothing more until it is reopened (whatever the last
 * committed transaction holds is the log). Appends that were waiting are rejected with this.
 */
export class LogFailedError extends Error {
  readonly code = 'LOG_FAILED';
  constructor(cause: unknown) {
    super(`Merkle log write failed, reopen the log: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'LogFailedError';
  }
}

export class LogClosedError extends Error {
  readonly code = 'LOG_CLOSED';
  constructor() {
    super('Merkle log is closed');
    this.name = 'LogClosedError';
  }
}
