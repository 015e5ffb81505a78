/**
 * The ledger port: where signed checkpoints of the Merkle log are anchored so that the
 * server's operator cannot quietly rewrite them (issue 6 §4; Fabric implements it in issue 7).
 *
 * The port promises durability, not mechanism. `anchor` resolves to a receipt only once the
 * anchor is final in that ledger: fsync'd into the embedded chain, or, for Fabric, committed
 * VALID in a block (submit, then wait for the commit status; the block number is known then).
 * An adapter whose confirmation is asynchronous (Fabric `submitAsync` + `getStatus`) waits for
 * it inside `anchor`, and when it gives up waiting rejects with `LedgerUnavailableError`
 * carrying the transaction id, so whoever retries can tell a resubmission from a first try.
 * Retrying is always safe: anchoring the same (origin, size, root) again is idempotent.
 *
 * Nothing but checkpoints reaches a ledger: origin, tree size, root hash and the signed note
 * (no health data; the leaves are salted hashes and stay in the log).
 */

/** A signed checkpoint as the Merkle log hands it over. */
export interface CheckpointToAnchor {
  /** The log's origin line (C2SP tlog-checkpoint), e.g. `custodian.example/audit-log`. */
  origin: string;
  /** Tree size: the number of leaves the checkpoint commits to. */
  size: number;
  /** RFC 9162 root hash of the tree at `size` (32 bytes). */
  rootHash: Uint8Array;
  /** The C2SP signed note text of the checkpoint (its first three lines: origin, size, base64 root). */
  note: string;
  /** When the log signed it (ISO 8601); metadata of the log, not part of the signed note. */
  signedAt: string;
}

/** What a ledger hands back for an anchored checkpoint. */
export interface AnchorReceipt {
  /** Which ledger: `embedded`, `fabric`, or another adapter's name. */
  ledger: 'embedded' | 'fabric' | string;
  origin: string;
  size: number;
  /** Base64 of the 32-byte root hash. */
  rootHash: string;
  /** When the ledger recorded the anchor (ISO 8601; Fabric: the transaction timestamp). */
  anchoredAt: string;
  /** Position in the ledger's anchor chain (embedded: entry index from 0; Fabric: per-log anchor counter). */
  sequence: number;
  /** Ledger transaction id (Fabric: the transaction id; embedded: the entry hash, hex). */
  txId?: string;
  /** Block holding the transaction, when the ledger has blocks and it is known. */
  blockNumber?: number;
  /** What a third party needs to check the anchor offline; its shape is ledger-specific and self-describing (`format`). */
  proof: unknown;
}

export interface LedgerStatus {
  name: string;
  healthy: boolean;
  detail?: string;
}

export interface LedgerPort {
  readonly name: string;
  /**
   * Durable before it resolves. Idempotent: the same (origin, size, root) again returns the
   * first receipt. A different root for an anchored size rejects with `EquivocationError`; a
   * size below the latest anchored one with `OutOfOrderError`; a malformed checkpoint (note
   * disagreeing with the fields, bad sizes) with `InvalidCheckpointError`; a ledger that cannot
   * take writes now with `LedgerUnavailableError` (retry later).
   */
  anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt>;
  /** The receipt of the largest anchored size of `origin`. */
  latest(origin: string): Promise<AnchorReceipt | undefined>;
  /** The receipt of the smallest anchored size >= size (what covers a leaf at index size-1). */
  covering(origin: string, size: number): Promise<AnchorReceipt | undefined>;
  status(): Promise<LedgerStatus>;
  close(): Promise<void>;
}

/** Typed failures of a ledger. Each carries a stable `code` for callers to branch on. */
export abstract class LedgerError extends Error {
  abstract readonly code: string;
}

/**
 * The ledger already holds a different root for this (origin, size): two checkpoints of one
 * log disagree, so the log (or its key) misbehaved. Never retried, never skipped: an alarm.
 */
export class EquivocationError extends LedgerError {
  readonly code = 'LEDGER_EQUIVOCATION';
  constructor(
    readonly origin: string,
    readonly size: number,
    /** Base64 root already anchored at this size. */
    readonly anchoredRoot: string,
    /** Base64 root that was offered. */
    readonly offeredRoot: string,
  ) {
    super(`equivocation: ${origin} at size ${size} is anchored with root ${anchoredRoot}, refusing ${offeredRoot}`);
    this.name = 'EquivocationError';
  }
}

/** The offered size is below the latest anchored size of the origin (already covered by it). */
export class OutOfOrderError extends LedgerError {
  readonly code = 'LEDGER_OUT_OF_ORDER';
  constructor(
    readonly origin: string,
    readonly size: number,
    readonly latestSize: number,
  ) {
    super(`out of order: ${origin} is anchored up to size ${latestSize}, refusing size ${size}`);
    this.name = 'OutOfOrderError';
  }
}

/** The checkpoint cannot be anchored as offered (retrying the same one will not help). */
export class InvalidCheckpointError extends LedgerError {
  readonly code = 'LEDGER_INVALID_CHECKPOINT';
  constructor(reason: string) {
    super(`invalid checkpoint: ${reason}`);
    this.name = 'InvalidCheckpointError';
  }
}

/**
 * The ledger cannot take the anchor now (closed, a failed write, peer unreachable, a commit
 * not confirmed in time). Retry later; when `txId` is set, the transaction may still commit.
 */
export class LedgerUnavailableError extends LedgerError {
  readonly code = 'LEDGER_UNAVAILABLE';
  constructor(
    message: string,
    options?: { cause?: unknown; txId?: string; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LedgerUnavailableError';
    this.txId = options?.txId;
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly txId?: string;
  readonly retryAfterMs?: number;
}

/**
 * The ledger refused the transaction for a reason retrying cannot fix: an endorsement-policy
 * failure, an identity the ledger does not let anchor, a log it does not know, a transaction
 * committed invalid for a reason other than a read conflict. Like InvalidCheckpointError it
 * needs a person, not a retry; unlike it, the checkpoint itself may be fine.
 */
export class LedgerRejectedError extends LedgerError {
  readonly code = 'LEDGER_REJECTED';
  constructor(message: string, options?: { cause?: unknown; txId?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LedgerRejectedError';
    this.txId = options?.txId;
  }
  /** The refused transaction, when it got as far as having one. */
  readonly txId?: string;
}

/** The embedded anchor chain on disk does not verify (edited, reordered, cut, foreign key). */
export class AnchorChainCorruptError extends LedgerError {
  readonly code = 'LEDGER_CHAIN_CORRUPT';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`anchor chain ${file} does not verify: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`);
    this.name = 'AnchorChainCorruptError';
  }
}
