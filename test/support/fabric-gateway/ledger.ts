import { common, peer } from '@hyperledger/fabric-protos';
import type { ChaincodeEventRecord, OpenedTransaction } from './envelope.js';
import type { GatewayFaults } from './faults.js';
import { IdentityError, type MspRegistry } from './msp.js';
import { computeTxId } from './proposal.js';
import type { KeyVersion, RangeQueryRead } from './rwset.js';

/** The part of test/support/fabric/world-state.ts's WorldState the committer needs. */
export interface CommittableState {
  get(key: string): { value: Uint8Array; version: KeyVersion } | undefined;
  /** Simple keys in [startKey, endKey) in UTF-8 byte order ('' endKey: unbounded). */
  range(startKey: string, endKey: string): Array<{ key: string; version: KeyVersion }>;
  apply(writes: ReadonlyMap<string, Uint8Array | null>, version: KeyVersion): void;
}

export interface CommittedTransaction {
  txId: string;
  /** Position in the block: the txNum of the versions its writes get. */
  txNum: number;
  validationCode: number;
  validationCodeName: string;
  creatorMspId: string | undefined;
  chaincodeName: string;
  /** Present on every transaction that set one; streamed only for VALID ones. */
  event?: ChaincodeEventRecord;
  /** The envelope exactly as ordered. */
  envelope: Uint8Array;
}

export interface Block {
  number: number;
  /** Block 0 is the channel's genesis (configuration) block and carries no endorser transactions. */
  kind: 'config' | 'endorser';
  transactions: CommittedTransaction[];
}

export interface TransactionStatus {
  code: number;
  blockNumber: number;
}

export interface LedgerOptions {
  state: CommittableState;
  channelId: string;
  chaincodeName: string;
  msps: MspRegistry;
  faults: GatewayFaults;
  /** MSPs any one of whose peers satisfies the chaincode's endorsement policy. */
  endorsementPolicyMsps: readonly string[];
  /** How long the orderer waits for more transactions before it cuts a block (0: next tick). */
  batchTimeoutMs: number;
  /** A block holds at most this many transactions. */
  maxMessageCount: number;
}

export const validationCodeName = (code: number): string =>
  Object.entries(peer.TxValidationCode).find(([, value]) => value === code)?.[0] ?? `UNKNOWN(${code})`;

/**
 * Ordering service and committing peer in one: ordered transactions are cut into blocks, each
 * block is validated transaction by transaction (format and creator signature, duplicate tx id,
 * endorsement policy, then MVCC against committed state plus the block's earlier valid writes),
 * and the valid transactions' writes are applied with version (block, tx).
 */
export class SimulatedLedger {
  readonly blocks: Block[] = [{ number: 0, kind: 'config', transactions: [] }];
  readonly #options: LedgerOptions;
  readonly #index = new Map<string, TransactionStatus>();
  readonly #waiters = new Map<string, Set<(status: TransactionStatus) => void>>();
  readonly #blockListeners = new Set<(block: Block) => void>();
  readonly #idleWaiters: Array<() => void> = [];
  #pending: OpenedTransaction[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: LedgerOptions) {
    if (options.maxMessageCount < 1) throw new Error('maxMessageCount must be at least 1');
    this.#options = options;
  }

  get height(): number {
    return this.blocks.length;
  }

  /** The committed status of a transaction id: its first occurrence, as the block index keeps it. */
  status(txId: string): TransactionStatus | undefined {
    return this.#index.get(txId);
  }

  blockOf(txId: string): number | undefined {
    return this.#index.get(txId)?.blockNumber;
  }

  order(tx: OpenedTransaction): void {
    if (this.#closed) throw new Error('the ledger is closed');
    this.#pending.push(tx);
    if (this.#pending.length >= this.#options.maxMessageCount) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#cut(), 0);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#cut(), this.#options.batchTimeoutMs);
    }
    this.#timer.unref();
  }

  /** Resolves once every transaction ordered so far is in a block. */
  settled(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Resolves when the transaction commits (at once if it has); rejects only when `signal` aborts. */
  waitForStatus(txId: string, signal: AbortSignal): Promise<TransactionStatus> {
    const known = this.#index.get(txId);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const waiters = this.#waiters.get(txId) ?? new Set();
      this.#waiters.set(txId, waiters);
      const onCommit = (status: TransactionStatus): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(status);
      };
      const onAbort = (): void => {
        waiters.delete(onCommit);
        if (waiters.size === 0) this.#waiters.delete(txId);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      waiters.add(onCommit);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  onBlock(listener: (block: Block) => void): () => void {
    this.#blockListeners.add(listener);
    return () => this.#blockListeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#blockListeners.clear();
  }

  #cut(): void {
    this.#timer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#options.maxMessageCount);
      this.#pending = this.#pending.slice(batch.length);
      this.#commit(batch);
    }
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #commit(batch: OpenedTransaction[]): void {
    const blockNum = this.blocks.length;
    const { state, faults } = this.#options;
    // Versions as they stand after the block's earlier valid transactions (null: deleted).
    const updates = new Map<string, KeyVersion | null>();
    const seen = new Set<string>();
    const toApply: Array<{ writes: ReadonlyMap<string, Uint8Array | null>; version: KeyVersion }> = [];
    const transactions = batch.map((tx, txNum): CommittedTransaction => {
      let code = this.#validate(tx, seen);
      if (code === peer.TxValidationCode.VALID) code = faults.takeForcedValidationCode() ?? code;
      if (code === peer.TxValidationCode.VALID) {
        for (const [key, readVersion] of tx.rwset.reads) {
          const current = updates.has(key) ? updates.get(key)! : (state.get(key)?.version ?? null);
          if (!sameVersion(current, readVersion)) {
            code = peer.TxValidationCode.MVCC_READ_CONFLICT;
            break;
          }
        }
      }
      if (code === peer.TxValidationCode.VALID && tx.rwset.rangeQueries.some((query) => this.#phantom(query, updates))) {
        code = peer.TxValidationCode.PHANTOM_READ_CONFLICT;
      }
      seen.add(tx.txId);
      if (code === peer.TxValidationCode.VALID) {
        const version = { blockNum, txNum };
        for (const [key, value] of tx.rwset.writes) updates.set(key, value === null ? null : version);
        toApply.push({ writes: tx.rwset.writes, version });
      }
      return {
        txId: tx.txId,
        txNum,
        validationCode: code,
        validationCodeName: validationCodeName(code),
        creatorMspId: this.#creatorMsp(tx.creator),
        chaincodeName: tx.chaincodeName,
        ...(tx.event === undefined ? {} : { event: tx.event }),
        envelope: tx.envelope.serializeBinary(),
      };
    });
    for (const { writes, version } of toApply) state.apply(writes, version);
    const block: Block = { number: blockNum, kind: 'endorser', transactions };
    this.blocks.push(block);
    for (const tx of transactions) {
      if (this.#index.has(tx.txId)) continue;
      const status = { code: tx.validationCode, blockNumber: blockNum };
      this.#index.set(tx.txId, status);
      const waiters = this.#waiters.get(tx.txId);
      this.#waiters.delete(tx.txId);
      for (const resolve of waiters ?? []) resolve(status);
    }
    for (const listener of [...this.#blockListeners]) listener(block);
  }

  /** The committing peer's checks before MVCC (txvalidator + the default endorsement validation). */
  #validate(tx: OpenedTransaction, seenInBlock: ReadonlySet<string>): number {
    const { msps, channelId, chaincodeName, endorsementPolicyMsps } = this.#options;
    const codes = peer.TxValidationCode;
    if (tx.headerType !== common.HeaderType.ENDORSER_TRANSACTION) return codes.UNKNOWN_TX_TYPE;
    if (tx.channelId !== channelId) return codes.TARGET_CHAIN_NOT_FOUND;
    if (tx.nonce.length === 0 || tx.txId !== computeTxId(tx.nonce, tx.creator)) return codes.BAD_PROPOSAL_TXID;
    try {
      msps.authenticate(tx.creator, tx.payloadBytes, tx.signature);
    } catch (err) {
      if (err instanceof IdentityError) return codes.BAD_CREATOR_SIGNATURE;
      throw err;
    }
    if (!equalBytes(tx.endorsedProposalHash, tx.carriedProposalHash)) return codes.INVALID_ENDORSER_TRANSACTION;
    if (tx.chaincodeName !== chaincodeName) return codes.INVALID_CHAINCODE;
    if (this.#index.has(tx.txId) || seenInBlock.has(tx.txId)) return codes.DUPLICATE_TXID;
    const endorsingMsps = new Set<string>();
    for (const endorsement of tx.endorsements) {
      try {
        const endorser = msps.authenticate(endorsement.endorser, Buffer.concat([tx.prpBytes, endorsement.endorser]), endorsement.signature);
        endorsingMsps.add(endorser.mspId);
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err;
      }
    }
    if (!endorsementPolicyMsps.some((mspId) => endorsingMsps.has(mspId))) return codes.ENDORSEMENT_POLICY_FAILURE;
    return codes.VALID;
  }

  /**
   * Re-runs a range query on committed state plus the block's earlier valid writes: a key that
   * appeared, vanished or changed version among what the chaincode consumed is a phantom read.
   * An iterator the chaincode did not exhaust is only compared up to the last key it read.
   */
  #phantom(query: RangeQueryRead, updates: ReadonlyMap<string, KeyVersion | null>): boolean {
    const now = new Map<string, KeyVersion>();
    for (const row of this.#options.state.range(query.startKey, query.endKey)) now.set(row.key, row.version);
    for (const [key, version] of updates) {
      const inRange = compareKeys(key, query.startKey) >= 0 && (query.endKey === '' || compareKeys(key, query.endKey) < 0);
      if (!inRange || key.startsWith('\u0000')) continue;
      if (version === null) now.delete(key);
      else now.set(key, version);
    }
    const current = [...now].sort(([a], [b]) => compareKeys(a, b));
    const compared = query.exhausted ? current : current.slice(0, query.reads.length);
    if (compared.length !== query.reads.length) return true;
    return query.reads.some((read, i) => read.key !== compared[i]![0] || !sameVersion(read.version, compared[i]![1]));
  }

  #creatorMsp(creator: Uint8Array): string | undefined {
    try {
      return this.#options.msps.deserialize(creator).mspId;
    } catch {
      return undefined;
    }
  }
}

/** The state database's key order: UTF-8 bytes, not UTF-16 code units. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sameVersion(a: KeyVersion | null, b: KeyVersion | null): boolean {
  if (a === null || b === null) return a === b;
  return a.blockNum === b.blockNum && a.txNum === b.txNum;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
