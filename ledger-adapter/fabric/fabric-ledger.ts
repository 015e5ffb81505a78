import { validateCheckpoint, type ValidCheckpoint } from '../src/anchor/anchor-rules.js';
import {
  EquivocationError,
  InvalidCheckpointError,
  LedgerError,
  LedgerRejectedError,
  LedgerUnavailableError,
  OutOfOrderError,
  type AnchorReceipt,
  type CheckpointToAnchor,
  type LedgerPort,
  type LedgerStatus,
} from '../src/anchor/ledger-port.js';
import { parseVerifierKey } from '../src/checkpoint/note.js';
import { fromBase64Strict } from '../src/merkle/base64.js';
import { verifyConsistency } from '../src/merkle/proofs.js';
import type { AnchorContract, AnchorTransaction, CommitOutcome } from './anchor-contract.js';
import { statusName } from './anchor-contract.js';
import { MalformedResponseError, type AnchorOutcome, type AnchorRecord, type EquivocationEvidence } from './anchor-records.js';
import { backoff, realSleep, type Backoff, type BackoffOptions } from './backoff.js';
import { asGatewayFailure, chaincodeRefusalOf, describeError, describeFailure, isOrdererRefusal, isTransientCode } from './fabric-errors.js';
import { fabricReceipt } from './fabric-receipt.js';

/**
 * The ledger port over Hyperledger Fabric: each checkpoint becomes an AnchorCheckpoint
 * transaction of the anchor chaincode, and `anchor` resolves once it is committed VALID.
 *
 * Before proposing, the ledger reads the latest anchor and settles what it can without a
 * write (a replay returns the first receipt, another root is equivocation, a smaller size is
 * out of order) and proves, from the Merkle log, that the checkpoint extends the latest
 * anchor; the peers check that proof again. Each stage is retried by what failed (README.md
 * has the table): transient gRPC failures retry the same stage (the same signed proposal or
 * transaction, so one txId), a stale previous size or a read conflict reruns the whole flow
 * from a fresh latest anchor, and refusals become the port's typed errors. Attempts are
 * bounded; when they run out on a transient failure the result is LedgerUnavailableError
 * carrying the txId, so the outbox retries later and a resubmission is recognisable.
 *
 * One log per ledger: the verifier key names the origin, and is registered (idempotently)
 * at open(). Reads work for any origin.
 */

/** The Merkle log, as far as anchoring needs it. */
export interface ConsistencySource {
  consistencyProof(size1: number, size2: number): Uint8Array[];
}

export interface FabricLedgerLogger {
  warn(obj: object, msg?: string): void;
}

export interface FabricLedgerOptions {
  contract: AnchorContract;
  /** Where the chaincode runs and who this client is (receipts and status name them). */
  network: { channel: string; chaincode: string; mspId: string };
  log: ConsistencySource;
  /** The log's C2SP verifier key; its name is the origin. */
  verifierKey: string;
  /** Tries per stage on transient failures (default 5). */
  maxAttempts?: number;
  /** Reruns of the flow after a stale previous size or a read conflict (default 5). */
  maxReruns?: number;
  /** Backoff between tries (defaults 100 ms, ×2, at most 5 s). */
  retry?: BackoffOptions;
  /** How long status() waits for its query (default 5 s). */
  statusTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Milliseconds clock (status latency). */
  now?: () => number;
  logger?: FabricLedgerLogger;
  /** Called once by close(), e.g. to close the gateway connection the ledger was given. */
  onClose?: () => void | Promise<void>;
}

type Step = { kind: 'done'; receipt: AnchorReceipt } | { kind: 'rerun'; reason: string; txId?: string };

/** Validation codes of a transaction that lost a race for the keys it read: a rerun reads them again. */
const READ_CONFLICT_CODES: ReadonlySet<string> = new Set(['MVCC_READ_CONFLICT', 'PHANTOM_READ_CONFLICT']);

/** Blocks of recently committed anchors, so receipts read back later still name their block. */
const BLOCK_CACHE_SIZE = 4096;

const silentLogger: FabricLedgerLogger = { warn: () => undefined };

export class FabricLedger implements LedgerPort {
  readonly name = 'fabric';
  /** The origin of the log this ledger anchors. */
  readonly origin: string;
  private readonly contract: AnchorContract;
  private readonly log: ConsistencySource;
  private readonly verifierKey: string;
  private readonly channel: string;
  private readonly chaincode: string;
  private readonly mspId: string;
  private readonly maxAttempts: number;
  private readonly maxReruns: number;
  private readonly delay: Backoff;
  private readonly statusTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly logger: FabricLedgerLogger;
  private readonly onClose?: () => void | Promise<void>;
  private readonly blocks = new Map<string, number>();
  private registered = false;
  private registering?: Promise<void>;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: FabricLedgerOptions) {
    const key = parseVerifierKey(options.verifierKey);
    if (!key.ok) throw new TypeError(`FabricLedger: verifier key: ${key.reason}`);
    this.origin = key.value.name;
    this.verifierKey = options.verifierKey;
    this.contract = options.contract;
    this.log = options.log;
    this.channel = options.network.channel;
    this.chaincode = options.network.chaincode;
    this.mspId = options.network.mspId;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.maxReruns = Math.max(0, options.maxReruns ?? 5);
    this.delay = backoff(options.retry, options.random);
    this.statusTimeoutMs = options.statusTimeoutMs ?? 5000;
    this.sleep = options.sleep ?? realSleep;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.onClose = options.onClose;
  }

  /** Constructs the ledger and registers the log (see open()). */
  static async open(options: FabricLedgerOptions): Promise<FabricLedger> {
    return new FabricLedger(options).open();
  }

  /**
   * Registers the log's verifier key (idempotent). A ledger that cannot be reached now is not
   * fatal: the registration is retried before the next anchor, so the server starts and the
   * outbox keeps checkpoints until Fabric answers. A refusal (another key already registered
   * for the origin, an identity the chaincode refuses) is: it rejects with LedgerRejectedError.
   */
  async open(): Promise<this> {
    try {
      await this.ensureRegistered();
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      this.logger.warn({ origin: this.origin, err: err.message }, 'fabric: log registration deferred, the ledger is unreachable');
    }
    return this;
  }

  async anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt> {
    const v = validateCheckpoint(cp);
    // One anchor at a time: two would read the same latest anchor and one would lose at commit.
    const run = this.tail.then(() => this.anchorValid(v));
    this.tail = run.catch(() => undefined);
    return run;
  }

  async latest(origin: string): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    const record = await this.query('GetLatest', () => this.contract.getLatest(origin));
    return record && this.receipt(record);
  }

  async covering(origin: string, size: number): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`covering: size ${size} is not a non-negative integer`);
    const [record] = await this.query('GetRange', () => this.contract.getRange(origin, size, undefined, 1));
    return record && this.receipt(record);
  }

  /** Healthy only when a query answers within statusTimeoutMs and the log is registered with this key. */
  async status(): Promise<LedgerStatus> {
    const where = `channel ${this.channel}, chaincode ${this.chaincode}, as ${this.mspId}`;
    if (this.closed) return { name: this.name, healthy: false, detail: 'closed' };
    const started = this.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.statusTimeoutMs} ms`)), this.statusTimeoutMs);
      });
      const registration = await Promise.race([this.contract.getLog(this.origin), timeout]);
      const ms = this.now() - started;
      if (!registration) return { name: this.name, healthy: false, detail: `${where}: the log ${this.origin} is not registered yet` };
      if (registration.verifierKey !== this.verifierKey) {
        return { name: this.name, healthy: false, detail: `${where}: the log ${this.origin} is registered with another verifier key` };
      }
      return { name: this.name, healthy: true, detail: `${where}: log ${this.origin} registered by ${registration.mspId}, query answered in ${ms} ms` };
    } catch (err) {
      return { name: this.name, healthy: false, detail: `${where}: GetLog failed: ${describeError(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.onClose?.();
  }

  /** Records the block of a committed transaction (the event listener knows blocks this process did not submit). */
  rememberBlock(txId: string, blockNumber: number): void {
    this.blocks.delete(txId);
    this.blocks.set(txId, blockNumber);
    if (this.blocks.size > BLOCK_CACHE_SIZE) this.blocks.delete(this.blocks.keys().next().value as string);
  }

  // -------------------------------------------------------------------------------------------

  private async anchorValid(v: ValidCheckpoint): Promise<AnchorReceipt> {
    this.assertOpen();
    if (v.origin !== this.origin) throw new InvalidCheckpointError(`this Fabric ledger anchors the log ${this.origin}, not ${v.origin}`);
    if (v.size === 0) throw new InvalidCheckpointError('a checkpoint of size 0 commits to nothing');
    await this.ensureRegistered();
    let last: Extract<Step, { kind: 'rerun' }> | undefined;
    for (let run = 0; run <= this.maxReruns; run++) {
      if (last) {
        const delayMs = this.delay(run);
        this.logger.warn({ origin: v.origin, size: v.size, txId: last.txId, rerun: run, delayMs, reason: last.reason }, 'fabric: rerunning the anchor from a fresh latest anchor');
        await this.sleep(delayMs);
      }
      const step = await this.runOnce(v);
      if (step.kind === 'done') return step.receipt;
      last = step;
    }
    throw new LedgerUnavailableError(`fabric: anchoring ${v.origin} at size ${v.size} still conflicts after ${this.maxReruns} reruns (${last?.reason})`, {
      txId: last?.txId,
    });
  }

  private async runOnce(v: ValidCheckpoint): Promise<Step> {
    const latest = await this.query('GetLatest', () => this.contract.getLatest(v.origin));
    const settled = await this.settle(v, latest);
    if (settled) return { kind: 'done', receipt: settled };

    const tx = this.contract.proposeAnchor(v.note, latest?.size ?? 0, this.proofFrom(latest, v));
    const outcome = await this.endorse(tx, v);
    if (outcome === 'stale') return { kind: 'rerun', reason: 'the latest anchor moved (STALE_PREVIOUS)', txId: tx.txId };
    if (outcome.status === 'equivocation') {
      await this.recordEvidence(tx, outcome.evidence);
      throw new EquivocationError(v.origin, v.size, outcome.evidence.anchoredRoot, outcome.evidence.offeredRoot);
    }
    const record = outcome.record;
    if (record.origin !== v.origin || record.size !== v.size || record.rootHash !== v.rootHash) {
      throw new LedgerRejectedError(`fabric: the chaincode answered with the anchor of ${record.origin} at ${record.size}, not the checkpoint offered`, { txId: tx.txId });
    }
    // Anchored before by another transaction (a race with our own earlier try): nothing to write.
    // The same (origin, size, root) is the same checkpoint, whatever signatures its note carried then.
    if (record.txId !== tx.txId) return { kind: 'done', receipt: this.receipt(record) };
    if (record.note !== v.note) throw new LedgerRejectedError(`fabric: the chaincode would anchor another note than the one offered`, { txId: tx.txId });

    await this.submit(tx);
    const commit = await this.commitStatus(tx);
    if (commit.successful) {
      if (commit.blockNumber !== undefined) this.rememberBlock(tx.txId, commit.blockNumber);
      return { kind: 'done', receipt: this.receipt(record, commit.blockNumber) };
    }
    if (READ_CONFLICT_CODES.has(commit.codeName)) return { kind: 'rerun', reason: `transaction committed as ${commit.codeName}`, txId: tx.txId };
    throw new LedgerRejectedError(
      `fabric: transaction ${tx.txId} was committed invalid: ${commit.codeName} (${commit.code})${commit.blockNumber === undefined ? '' : ` in block ${commit.blockNumber}`}`,
      { txId: tx.txId },
    );
  }

  /** What the latest anchor already decides: a replay's receipt, or equivocation / out of order. */
  private async settle(v: ValidCheckpoint, latest: AnchorRecord | undefined): Promise<AnchorReceipt | undefined> {
    if (!latest || v.size > latest.size) return undefined;
    const existing = v.size === latest.size ? latest : await this.query('GetAnchor', () => this.contract.getAnchor(v.origin, v.size));
    if (existing) {
      if (existing.rootHash === v.rootHash) return this.receipt(existing);
      throw new EquivocationError(v.origin, v.size, existing.rootHash, v.rootHash);
    }
    throw new OutOfOrderError(v.origin, v.size, latest.size);
  }

  /** The consistency proof from the latest anchor, checked here first: a log that forked from its anchor is not sent. */
  private proofFrom(latest: AnchorRecord | undefined, v: ValidCheckpoint): Uint8Array[] {
    if (!latest) return [];
    let proof: Uint8Array[];
    try {
      proof = this.log.consistencyProof(latest.size, v.size);
    } catch (err) {
      throw new InvalidCheckpointError(`the log cannot prove size ${v.size} extends the anchored size ${latest.size}: ${describeError(err)}`);
    }
    const anchoredRoot = fromBase64Strict(latest.rootHash) as Uint8Array;
    const verdict = verifyConsistency(latest.size, v.size, anchoredRoot, fromBase64Strict(v.rootHash) as Uint8Array, proof);
    if (!verdict.ok) throw new InvalidCheckpointError(`size ${v.size} is not consistent with the anchored checkpoint of size ${latest.size}: ${verdict.reason}`);
    return proof;
  }

  private async endorse(tx: AnchorTransaction, v: ValidCheckpoint): Promise<AnchorOutcome | 'stale'> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen(tx.txId);
      try {
        return await tx.endorse();
      } catch (err) {
        if (err instanceof MalformedResponseError) throw new LedgerRejectedError(err.message, { cause: err, txId: tx.txId });
        const f = asGatewayFailure(err);
        if (!f) throw unexpected('endorsing', err, tx.txId);
        const refusal = chaincodeRefusalOf(f);
        if (refusal) {
          switch (refusal.code) {
            case 'STALE_PREVIOUS':
              return 'stale';
            case 'OUT_OF_ORDER':
              // Without the latest size the error cannot be built; a rerun reads it.
              if (refusal.latest === undefined) return 'stale';
              throw new OutOfOrderError(v.origin, v.size, refusal.latest);
            case 'BAD_SIGNATURE':
            case 'BAD_CONSISTENCY_PROOF':
            case 'INVALID_ARGUMENT':
              throw new InvalidCheckpointError(`the anchor chaincode refused it: ${refusal.message}`);
            case 'UNKNOWN_LOG':
              // Registered at open, gone now: the channel or chaincode is not the one it was. Needs a
              // person; the next anchor tries the registration again.
              this.registered = false;
              throw new LedgerRejectedError(`fabric: the anchor chaincode does not know the log ${v.origin}: ${refusal.message}`, { cause: err, txId: tx.txId });
            case 'FORBIDDEN':
            case 'KEY_MISMATCH':
              throw new LedgerRejectedError(`fabric: the anchor chaincode refused the transaction: ${refusal.message}`, { cause: err, txId: tx.txId });
          }
        }
        if (!isTransientCode(f.code)) throw new LedgerRejectedError(`fabric: endorsement of ${tx.txId} refused: ${describeFailure(f)}`, { cause: err, txId: tx.txId });
        await this.retryOrGiveUp('endorse', attempt, err, tx.txId, 'endorsing the same proposal again');
      }
    }
  }

  private async submit(tx: AnchorTransaction): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen(tx.txId);
      try {
        await tx.submit();
        return;
      } catch (err) {
        const f = asGatewayFailure(err);
        if (!f) throw unexpected('submitting', err, tx.txId);
        if (isOrdererRefusal(f) || !isTransientCode(f.code)) {
          throw new LedgerRejectedError(`fabric: ordering refused transaction ${tx.txId}: ${describeFailure(f)}`, { cause: err, txId: tx.txId });
        }
        await this.retryOrGiveUp('submit', attempt, err, tx.txId, 'submitting the same signed transaction again');
      }
    }
  }

  private async commitStatus(tx: AnchorTransaction): Promise<CommitOutcome> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen(tx.txId);
      try {
        return await tx.status();
      } catch (err) {
        const committed = asCommitError(err);
        if (committed) return { code: committed.code, codeName: statusName(committed.code), successful: false };
        const f = asGatewayFailure(err);
        if (!f) throw unexpected('waiting for the commit of', err, tx.txId);
        // Whatever the code, the transaction may still commit: ask again, then leave it to the outbox.
        await this.retryOrGiveUp('commit status', attempt, err, tx.txId, 'asking for the commit status again');
      }
    }
  }

  /** Commits the chaincode's evidence of equivocation when this transaction is its first report; the alarm does not wait on it. */
  private async recordEvidence(tx: AnchorTransaction, evidence: EquivocationEvidence): Promise<void> {
    if (evidence.reportedTxId !== tx.txId) return;
    try {
      await this.submit(tx);
      const commit = await this.commitStatus(tx);
      if (!commit.successful) throw new Error(`committed as ${commit.codeName}`);
    } catch (err) {
      this.logger.warn({ origin: evidence.origin, size: evidence.size, txId: tx.txId, err: describeError(err) }, 'fabric: the equivocation evidence was not recorded on the ledger');
    }
  }

  /** A query or the registration, retried on transient failures. */
  private async query<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen();
      try {
        return await fn();
      } catch (err) {
        if (err instanceof LedgerError) throw err;
        if (err instanceof MalformedResponseError) throw new LedgerRejectedError(err.message, { cause: err });
        const committed = asCommitError(err);
        if (committed) {
          // Only RegisterLog commits; it is idempotent, so one that lost a read conflict is simply run again.
          const name = statusName(committed.code);
          if (!READ_CONFLICT_CODES.has(name)) throw new LedgerRejectedError(`fabric: ${what} was committed invalid: ${name}`, { cause: err, txId: committed.transactionId });
        } else {
          const f = asGatewayFailure(err);
          if (!f) throw unexpected(what, err);
          const refusal = chaincodeRefusalOf(f);
          if (refusal) throw new LedgerRejectedError(`fabric: ${what} refused: ${refusal.message}`, { cause: err });
          if (isOrdererRefusal(f) || !isTransientCode(f.code)) throw new LedgerRejectedError(`fabric: ${what} refused: ${describeFailure(f)}`, { cause: err });
        }
        await this.retryOrGiveUp(what, attempt, err, undefined, `retrying ${what}`);
      }
    }
  }

  private async retryOrGiveUp(stage: string, attempt: number, err: unknown, txId: string | undefined, action: string): Promise<void> {
    if (attempt >= this.maxAttempts) {
      throw new LedgerUnavailableError(`fabric: ${stage} failed ${attempt} times${txId ? ` for transaction ${txId}` : ''}: ${describeError(err)}`, { cause: err, txId });
    }
    const delayMs = this.delay(attempt);
    this.logger.warn({ stage, attempt, maxAttempts: this.maxAttempts, txId, delayMs, err: describeError(err) }, `fabric: ${stage} failed, ${action}`);
    await this.sleep(delayMs);
  }

  private async ensureRegistered(): Promise<void> {
    if (this.registered) return;
    this.registering ??= this.register().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private async register(): Promise<void> {
    const registration = await this.query('RegisterLog', () => this.contract.registerLog(this.origin, this.verifierKey));
    if (registration.origin !== this.origin || registration.verifierKey !== this.verifierKey) {
      throw new LedgerRejectedError(`fabric: the log ${this.origin} is registered with another verifier key`);
    }
    this.registered = true;
  }

  private receipt(record: AnchorRecord, blockNumber?: number): AnchorReceipt {
    return fabricReceipt(record, { channel: this.channel, chaincode: this.chaincode }, blockNumber ?? this.blocks.get(record.txId));
  }

  private assertOpen(txId?: string): void {
    if (this.closed) throw new LedgerUnavailableError('fabric ledger is closed', { txId });
  }
}

function asCommitError(err: unknown): { code: number; transactionId?: string } | undefined {
  if (!(err instanceof Error) || err.name !== 'CommitError') return undefined;
  const e = err as Error & { code?: unknown; transactionId?: unknown };
  if (typeof e.code !== 'number') return undefined;
  return { code: e.code, ...(typeof e.transactionId === 'string' ? { transactionId: e.transactionId } : {}) };
}

/** Not a gateway failure: a bug or a broken connection object. Not retried here; the outbox backs off. */
function unexpected(what: string, err: unknown, txId?: string): LedgerUnavailableError {
  return new LedgerUnavailableError(`fabric: unexpected failure ${what}${txId ? ` transaction ${txId}` : ''}: ${describeError(err)}`, { cause: err, txId });
}
