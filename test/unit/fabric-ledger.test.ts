import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { CommitError, CommitStatusError, EndorseError, GatewayError, StatusCode } from '@hyperledger/fabric-gateway';
import {
  EquivocationError,
  InvalidCheckpointError,
  LedgerRejectedError,
  LedgerUnavailableError,
  OutOfOrderError,
  type CheckpointToAnchor,
} from '../../ledger-adapter/src/anchor/ledger-port.js';
import { formatCheckpoint, openCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';
import { fromBase64Strict, toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { leafHash } from '../../ledger-adapter/src/merkle/hash.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { consistencyProof, rootAt, verifyConsistency } from '../../ledger-adapter/src/merkle/proofs.js';
import { statusName, type AnchorContract, type AnchorTransaction, type CommitOutcome } from '../../ledger-adapter/fabric/anchor-contract.js';
import {
  MalformedResponseError,
  type AnchorOutcome,
  type AnchorRecord,
  type EquivocationEvidence,
  type LogRegistration,
} from '../../ledger-adapter/fabric/anchor-records.js';
import { FabricLedger, type FabricLedgerOptions } from '../../ledger-adapter/fabric/fabric-ledger.js';
import { FABRIC_PROOF_FORMAT } from '../../ledger-adapter/fabric/fabric-receipt.js';
import { checkFabricReceipt } from '../../ledger-adapter/fabric/verify-fabric-receipt.js';

/**
 * FabricLedger over a fake of the typed anchor contract: an in-memory chaincode with the real
 * one's rules (signature, STALE_PREVIOUS, OUT_OF_ORDER, consistency proofs, replays,
 * equivocation evidence) and Fabric's MVCC check at commit, plus queues of failures per stage
 * built from fabric-gateway's own error classes. No gRPC.
 */

const ORIGIN = 'custodian.test/log';
const MSP = 'Org1MSP';
const { privateKey: LOG_KEY } = generateKeyPairSync('ed25519');
const VERIFIER_KEY = verifierKeyOf(ORIGIN, LOG_KEY);

// ---------------------------------------------------------------------------------------------
// The Merkle log

/** A log whose first `shared` leaves are common to every branch, and the rest its branch's own. */
class TestLog {
  readonly tree = new MemoryTree();
  constructor(
    private readonly branch = 'main',
    private readonly shared = Infinity,
    size = 64,
  ) {
    for (let i = 0; i < size; i++) this.tree.append(leafHash(Buffer.from(i < this.shared ? `leaf ${i}` : `${this.branch} ${i}`)));
  }
  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return consistencyProof(this.tree, size1, size2);
  }
  root(size: number): Uint8Array {
    return rootAt(this.tree, size);
  }
  checkpoint(size: number, key: KeyObject = LOG_KEY): CheckpointToAnchor {
    const rootHash = this.root(size);
    const note = signNote(formatCheckpoint({ origin: ORIGIN, size, rootHash }), ORIGIN, key);
    return { origin: ORIGIN, size, rootHash, note, signedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, size)).toISOString() };
  }
}

// ---------------------------------------------------------------------------------------------
// fabric-gateway errors, as the gateway client builds them

function serviceError(code: number, message: string): ServiceError {
  return Object.assign(new Error(`${code} ${grpcStatus[code]}: ${message}`), { code, details: message, metadata: new Metadata() });
}

function endorseError(txId: string, code: number, peerMessage?: string): EndorseError {
  const message = peerMessage ? 'failed to endorse transaction, see attached details for more info' : 'endorse failed';
  return new EndorseError({
    code,
    details: peerMessage ? [{ address: 'peer0.org1.example.com:7051', mspId: MSP, message: peerMessage }] : [],
    cause: serviceError(code, message),
    transactionId: txId,
    message: `${code} ${grpcStatus[code]}: ${message}`,
  });
}

/** The chaincode refusing, as the gateway relays it. */
function refusal(txId: string, text: string): EndorseError {
  return endorseError(txId, grpcStatus.ABORTED, `chaincode response 500, ${text}`);
}

/** fabric-gateway 1.11 exports SubmitError as a type only: a GatewayError named so is what the client throws. */
function submitError(txId: string, code: number, message = 'no orderers could successfully process transaction'): GatewayError {
  const err = new GatewayError({ code, details: [], cause: serviceError(code, message), message: `${code} ${grpcStatus[code]}: ${message}` });
  return Object.assign(err, { name: 'SubmitError', transactionId: txId });
}

function commitStatusError(txId: string, code: number): CommitStatusError {
  return new CommitStatusError({ code, details: [], cause: serviceError(code, 'commit status'), transactionId: txId, message: `${code} ${grpcStatus[code]}: commit status` });
}

// ---------------------------------------------------------------------------------------------
// The fake chaincode

type Fault = (txId: string) => Error;

interface Pending {
  readLatest: number | undefined;
  apply: () => void;
}

class FakeChain implements AnchorContract {
  readonly registrations = new Map<string, LogRegistration>();
  readonly anchors = new Map<string, AnchorRecord[]>();
  readonly evidence: EquivocationEvidence[] = [];
  readonly calls: string[] = [];
  readonly proposals: { txId: string; note: string; previousSize: number; proof: Uint8Array[]; tx: FakeTx }[] = [];
  readonly faults = { query: [] as Fault[], register: [] as Fault[], endorse: [] as Fault[], submit: [] as Fault[], status: [] as Fault[] };
  /** Validation codes forced on the next commits that would otherwise be VALID. */
  readonly commitCodes: number[] = [];
  beforeEndorse?: (txId: string) => void;
  beforeCommit?: (txId: string) => void;
  block = 100;
  private txCount = 0;
  private seconds = 0;

  latestOf(origin: string): AnchorRecord | undefined {
    const list = this.anchors.get(origin);
    return list?.[list.length - 1];
  }

  txTime(): string {
    return new Date(Date.UTC(2025, 5, 1, 0, 0, this.seconds++)).toISOString();
  }

  fault(kind: keyof FakeChain['faults'], txId = ''): void {
    const f = this.faults[kind].shift();
    if (f) throw f(txId);
  }

  async registerLog(origin: string, verifierKey: string): Promise<LogRegistration> {
    this.calls.push('RegisterLog');
    this.fault('register');
    const existing = this.registrations.get(origin);
    if (existing) {
      if (existing.verifierKey !== verifierKey) throw refusal('reg', `[KEY_MISMATCH] ${origin} is registered with another verifier key`);
      return { ...existing };
    }
    const registration = { origin, verifierKey, mspId: MSP, registeredAt: this.txTime() };
    this.registrations.set(origin, registration);
    return { ...registration };
  }

  async getLog(origin: string): Promise<LogRegistration | undefined> {
    this.calls.push('GetLog');
    this.fault('query');
    const r = this.registrations.get(origin);
    return r && { ...r };
  }

  async getLatest(origin: string): Promise<AnchorRecord | undefined> {
    this.calls.push('GetLatest');
    this.fault('query');
    const r = this.latestOf(origin);
    return r && { ...r };
  }

  async getAnchor(origin: string, size: number): Promise<AnchorRecord | undefined> {
    this.calls.push(`GetAnchor ${size}`);
    this.fault('query');
    const r = this.anchors.get(origin)?.find((a) => a.size === size);
    return r && { ...r };
  }

  async getRange(origin: string, fromSize: number, toSize: number | undefined, limit: number): Promise<AnchorRecord[]> {
    this.calls.push(`GetRange ${fromSize} ${toSize ?? ''} ${limit}`);
    this.fault('query');
    return (this.anchors.get(origin) ?? [])
      .filter((a) => a.size >= fromSize && (toSize === undefined || a.size <= toSize))
      .slice(0, limit)
      .map((a) => ({ ...a }));
  }

  proposeAnchor(note: string, previousSize: number, proof: readonly Uint8Array[]): AnchorTransaction {
    const txId = `tx${++this.txCount}`;
    const tx = new FakeTx(this, txId, note, previousSize, [...proof]);
    this.proposals.push({ txId, note, previousSize, proof: [...proof], tx });
    return tx;
  }

  /** Another client of the same log anchoring directly: the race the ledger must survive. */
  anchorDirect(cp: CheckpointToAnchor, txId = `other${this.txCount++}`): AnchorRecord {
    const list = this.anchors.get(cp.origin) ?? [];
    const record: AnchorRecord = {
      origin: cp.origin,
      size: cp.size,
      rootHash: toBase64(cp.rootHash),
      note: cp.note,
      sequence: list.length,
      txId,
      anchoredAt: this.txTime(),
      mspId: 'Org2MSP',
    };
    this.anchors.set(cp.origin, [...list, record]);
    this.block++;
    return record;
  }

  /** What the chaincode's AnchorCheckpoint computes at endorsement, and the write it would make. */
  simulate(txId: string, note: string, previousSize: number, proof: Uint8Array[]): { outcome: AnchorOutcome; pending?: Pending } {
    const origin = note.slice(0, note.indexOf('\n'));
    const registration = this.registrations.get(origin);
    if (!registration) throw refusal(txId, `[UNKNOWN_LOG] ${origin} is not registered`);
    const cp = openCheckpoint(note, registration.verifierKey);
    if (!cp.ok) throw refusal(txId, `[BAD_SIGNATURE] ${cp.reason}`);
    const { size, rootHash } = cp.value;
    const root = toBase64(rootHash);
    const list = this.anchors.get(origin) ?? [];
    const latest = list[list.length - 1];
    const existing = list.find((a) => a.size === size);
    if (existing) {
      if (existing.rootHash === root) return { outcome: { status: 'anchored', record: { ...existing } } };
      const first = this.evidence.find((e) => e.size === size && e.offeredRoot === root);
      const evidence: EquivocationEvidence = first ?? {
        origin,
        size,
        anchoredRoot: existing.rootHash,
        anchoredNote: existing.note,
        anchoredTxId: existing.txId,
        offeredRoot: root,
        offeredNote: note,
        reportedTxId: txId,
        reportedAt: this.txTime(),
        mspId: MSP,
      };
      return { outcome: { status: 'equivocation', evidence }, pending: first ? undefined : { readLatest: latest?.size, apply: () => this.evidence.push(evidence) } };
    }
    const latestSize = latest?.size ?? 0;
    if (size < latestSize) throw refusal(txId, `[OUT_OF_ORDER] latest=${latestSize}`);
    if (previousSize !== latestSize) throw refusal(txId, `[STALE_PREVIOUS] latest=${latestSize}`);
    if (latest) {
      const verdict = verifyConsistency(latest.size, size, fromBase64Strict(latest.rootHash)!, rootHash, proof);
      if (!verdict.ok) throw refusal(txId, `[BAD_CONSISTENCY_PROOF] ${verdict.reason}`);
    } else if (proof.length > 0) throw refusal(txId, '[BAD_CONSISTENCY_PROOF] the proof must be empty');
    const record: AnchorRecord = { origin, size, rootHash: root, note, sequence: list.length, txId, anchoredAt: this.txTime(), mspId: MSP };
    return {
      outcome: { status: 'anchored', record },
      pending: { readLatest: latest?.size, apply: () => this.anchors.set(origin, [...(this.anchors.get(origin) ?? []), record]) },
    };
  }
}

class FakeTx implements AnchorTransaction {
  endorsements = 0;
  submissions = 0;
  statusChecks = 0;
  private pending?: Pending;
  private endorsed = false;
  private submitted = false;
  private committed?: CommitOutcome;

  constructor(
    private readonly chain: FakeChain,
    readonly txId: string,
    private readonly note: string,
    private readonly previousSize: number,
    private readonly proof: Uint8Array[],
  ) {}

  async endorse(): Promise<AnchorOutcome> {
    this.endorsements++;
    this.chain.calls.push(`endorse ${this.txId}`);
    this.chain.beforeEndorse?.(this.txId);
    this.chain.fault('endorse', this.txId);
    const { outcome, pending } = this.chain.simulate(this.txId, this.note, this.previousSize, this.proof);
    this.pending = pending;
    this.endorsed = true;
    return outcome;
  }

  async submit(): Promise<void> {
    this.submissions++;
    this.chain.calls.push(`submit ${this.txId}`);
    assert.ok(this.endorsed, 'submitted before endorsement');
    this.chain.fault('submit', this.txId);
    this.submitted = true;
  }

  async status(): Promise<CommitOutcome> {
    this.statusChecks++;
    this.chain.calls.push(`status ${this.txId}`);
    assert.ok(this.submitted, 'status before submit');
    this.chain.fault('status', this.txId);
    if (this.committed) return this.committed;
    this.chain.beforeCommit?.(this.txId);
    const origin = this.note.slice(0, this.note.indexOf('\n'));
    const blockNumber = ++this.chain.block;
    const forced = this.chain.commitCodes.shift();
    if (this.pending && this.pending.readLatest !== this.chain.latestOf(origin)?.size) {
      this.committed = { blockNumber, code: StatusCode.MVCC_READ_CONFLICT, codeName: 'MVCC_READ_CONFLICT', successful: false };
    } else if (forced !== undefined && forced !== StatusCode.VALID) {
      this.committed = { blockNumber, code: forced, codeName: statusName(forced), successful: false };
    } else {
      this.pending?.apply();
      this.committed = { blockNumber, code: StatusCode.VALID, codeName: 'VALID', successful: true };
    }
    return this.committed;
  }
}

// ---------------------------------------------------------------------------------------------

interface Harness {
  chain: FakeChain;
  log: TestLog;
  ledger: FabricLedger;
  sleeps: number[];
  warnings: { obj: Record<string, unknown>; msg?: string }[];
}

async function harness(overrides: Partial<FabricLedgerOptions> & { chain?: FakeChain; log?: TestLog } = {}): Promise<Harness> {
  const chain = overrides.chain ?? new FakeChain();
  const log = overrides.log ?? new TestLog();
  const sleeps: number[] = [];
  const warnings: Harness['warnings'] = [];
  const ledger = await FabricLedger.open({
    contract: chain,
    network: { channel: 'custodian', chaincode: 'custodian-anchor', mspId: MSP },
    log,
    verifierKey: VERIFIER_KEY,
    maxAttempts: 3,
    maxReruns: 2,
    retry: { initialMs: 100, maxMs: 1000, factor: 2 },
    random: () => 1,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    logger: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) },
    ...overrides,
  });
  return { chain, log, ledger, sleeps, warnings };
}

const b64 = (bytes: Uint8Array) => toBase64(bytes);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

describe('FabricLedger: anchoring', () => {
  it('registers the log once at open, anchors a first checkpoint with an empty proof, and the receipt names transaction and block', async () => {
    const { chain, log, ledger } = await harness();
    assert.deepEqual(chain.calls, ['RegisterLog']);
    assert.equal(chain.registrations.get(ORIGIN)?.verifierKey, VERIFIER_KEY);

    const receipt = await ledger.anchor(log.checkpoint(5));
    assert.equal(chain.calls.filter((c) => c === 'RegisterLog').length, 1, 'registered once');
    assert.equal(chain.proposals.length, 1);
    const [p] = chain.proposals;
    assert.equal(p.previousSize, 0);
    assert.deepEqual(p.proof, []);
    assert.equal(p.note, log.checkpoint(5).note);
    assert.deepEqual(chain.calls.slice(1), ['GetLatest', `endorse ${p.txId}`, `submit ${p.txId}`, `status ${p.txId}`]);

    const stored = chain.latestOf(ORIGIN)!;
    assert.equal(receipt.ledger, 'fabric');
    assert.equal(receipt.origin, ORIGIN);
    assert.equal(receipt.size, 5);
    assert.equal(receipt.rootHash, b64(log.root(5)));
    assert.equal(receipt.txId, p.txId);
    assert.equal(receipt.blockNumber, chain.block, 'the block of the commit status');
    assert.equal(receipt.anchoredAt, stored.anchoredAt, 'the transaction timestamp the chaincode recorded');
    assert.equal(receipt.sequence, 0);
    assert.deepEqual(receipt.proof, {
      format: FABRIC_PROOF_FORMAT,
      channel: 'custodian',
      chaincode: 'custodian-anchor',
      mspId: MSP,
      txId: p.txId,
      blockNumber: chain.block,
      note: log.checkpoint(5).note,
    });
    await ledger.close();
  });

  it('proves each new checkpoint consistent with the latest anchored one', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(3));
    const r8 = await ledger.anchor(log.checkpoint(8));
    const p = chain.proposals[1];
    assert.equal(p.previousSize, 3);
    assert.ok(p.proof.length > 0);
    assert.deepEqual(verifyConsistency(3, 8, log.root(3), log.root(8), p.proof), { ok: true });
    assert.equal(r8.sequence, 1);
    assert.deepEqual(await ledger.latest(ORIGIN), r8, 'latest() reads back the same receipt, block included');
    await ledger.close();
  });

  it('returns the first receipt on a replay without proposing anything, also after later anchors', async () => {
    const { chain, log, ledger } = await harness();
    const first = await ledger.anchor(log.checkpoint(5));
    const again = await ledger.anchor({ ...log.checkpoint(5), signedAt: '2030-01-01T00:00:00.000Z' });
    assert.deepEqual(again, first);
    await ledger.anchor(log.checkpoint(9));
    assert.deepEqual(await ledger.anchor(log.checkpoint(5)), first);
    assert.equal(chain.proposals.length, 2, 'only 5 and 9 were proposed');
    await ledger.close();
  });

  it('returns the existing anchor when the chaincode reports it anchored by another transaction, without submitting', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(3));
    let other: AnchorRecord | undefined;
    chain.beforeEndorse = () => {
      chain.beforeEndorse = undefined;
      other = chain.anchorDirect(log.checkpoint(7));
    };
    const receipt = await ledger.anchor(log.checkpoint(7));
    const tx = chain.proposals[1];
    assert.equal(receipt.txId, other?.txId, 'the original transaction');
    assert.equal(tx.tx.submissions, 0, 'a replay writes nothing');
    assert.equal(receipt.blockNumber, undefined, 'no block known for a transaction this process did not see commit');
    await ledger.close();
  });

  it('refuses equivocation before submitting: a different root for the latest or an older anchored size', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(4));
    await ledger.anchor(log.checkpoint(8));
    const forked = new TestLog('fork', 2);
    for (const size of [8, 4]) {
      const err = await rejection(ledger.anchor(forked.checkpoint(size)));
      assert.ok(err instanceof EquivocationError, String(err));
      assert.equal(err.size, size);
      assert.equal(err.anchoredRoot, b64(log.root(size)));
      assert.equal(err.offeredRoot, b64(forked.root(size)));
    }
    assert.equal(chain.proposals.length, 2, 'nothing proposed for the equivocating checkpoints');
    await ledger.close();
  });

  it('turns an equivocation result of the chaincode (a race) into EquivocationError, after committing the evidence', async () => {
    const main = new TestLog();
    const forked = new TestLog('fork', 3);
    const chain = new FakeChain();
    const { ledger } = await harness({ chain, log: forked });
    chain.anchorDirect(main.checkpoint(3));
    // Between the ledger's read of the latest anchor (3) and its endorsement, another writer anchors 5.
    chain.beforeEndorse = () => {
      chain.beforeEndorse = undefined;
      chain.anchorDirect(main.checkpoint(5));
    };
    const err = await rejection(ledger.anchor(forked.checkpoint(5)));
    assert.ok(err instanceof EquivocationError, String(err));
    assert.equal(err.anchoredRoot, b64(main.root(5)));
    assert.equal(err.offeredRoot, b64(forked.root(5)));
    const [p] = chain.proposals;
    assert.equal(p.tx.submissions, 1, 'the evidence transaction was submitted');
    assert.equal(chain.evidence.length, 1);
    assert.equal(chain.evidence[0].reportedTxId, p.txId);
    assert.equal(chain.latestOf(ORIGIN)?.rootHash, b64(main.root(5)), 'the anchor stays');
    await ledger.close();
  });

  it('refuses a size below the latest anchor as out of order', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(10));
    await assert.rejects(ledger.anchor(log.checkpoint(6)), (e: unknown) => e instanceof OutOfOrderError && e.latestSize === 10 && e.size === 6);
    assert.equal(chain.proposals.length, 1);
    await ledger.close();
  });

  it('refuses, before proposing, a checkpoint of another origin and one its log cannot prove consistent with the anchor', async () => {
    const main = new TestLog();
    const chain = new FakeChain();
    const { ledger } = await harness({ chain, log: new TestLog('fork', 2) });
    chain.anchorDirect(main.checkpoint(5));
    const other = { ...main.checkpoint(3), origin: 'other/log' };
    other.note = other.note.replace(ORIGIN, 'other/log');
    await assert.rejects(ledger.anchor(other), InvalidCheckpointError);
    await assert.rejects(ledger.anchor(new TestLog('fork', 2).checkpoint(8)), /not consistent with the anchored checkpoint of size 5/);
    assert.equal(chain.proposals.length, 0);
    await ledger.close();
  });

  it('rejects malformed checkpoints and size 0 with InvalidCheckpointError, proposing nothing', async () => {
    const { chain, log, ledger } = await harness();
    const good = log.checkpoint(3);
    const bad: CheckpointToAnchor[] = [
      { ...good, note: log.checkpoint(4).note },
      { ...good, rootHash: good.rootHash.subarray(0, 31) },
      { ...good, size: 1.5 },
      { ...log.checkpoint(0) },
    ];
    for (const cp of bad) await assert.rejects(ledger.anchor(cp), InvalidCheckpointError);
    assert.equal(chain.proposals.length, 0);
    await ledger.close();
  });

  it('answers covering with the smallest anchored size at or above, through GetRange with limit 1', async () => {
    const { chain, log, ledger } = await harness();
    const r2 = await ledger.anchor(log.checkpoint(2));
    const r5 = await ledger.anchor(log.checkpoint(5));
    assert.deepEqual(await ledger.covering(ORIGIN, 2), r2);
    assert.deepEqual(await ledger.covering(ORIGIN, 3), r5);
    assert.equal(await ledger.covering(ORIGIN, 6), undefined);
    assert.ok(chain.calls.includes('GetRange 3  1'));
    await ledger.close();
  });
});

describe('FabricLedger: retries by error type', () => {
  it('endorses the same proposal again after transient gRPC failures, with backoff and a logged decision', async () => {
    const { chain, log, ledger, sleeps, warnings } = await harness();
    chain.faults.endorse.push(
      (tx) => endorseError(tx, grpcStatus.UNAVAILABLE),
      (tx) => endorseError(tx, grpcStatus.DEADLINE_EXCEEDED),
    );
    const receipt = await ledger.anchor(log.checkpoint(5));
    assert.equal(chain.proposals.length, 1, 'one proposal, one txId');
    const tx = chain.proposals[0].tx;
    assert.equal(tx.endorsements, 3);
    assert.equal(tx.submissions, 1);
    assert.equal(receipt.txId, tx.txId);
    assert.deepEqual(sleeps, [100, 200], 'exponential backoff');
    assert.deepEqual(warnings.map((w) => [w.obj.stage, w.obj.attempt, w.obj.txId]), [
      ['endorse', 1, tx.txId],
      ['endorse', 2, tx.txId],
    ]);
    await ledger.close();
  });

  it('resubmits the same signed transaction after SubmitErrors', async () => {
    const { chain, log, ledger } = await harness();
    chain.faults.submit.push(
      (tx) => submitError(tx, grpcStatus.UNAVAILABLE),
      (tx) => submitError(tx, grpcStatus.DEADLINE_EXCEEDED),
    );
    const receipt = await ledger.anchor(log.checkpoint(5));
    assert.equal(chain.proposals.length, 1);
    const tx = chain.proposals[0].tx;
    assert.equal(tx.endorsements, 1, 'not endorsed again');
    assert.equal(tx.submissions, 3, 'submitted three times');
    assert.deepEqual(chain.calls.filter((c) => c.startsWith('submit')), [`submit ${tx.txId}`, `submit ${tx.txId}`, `submit ${tx.txId}`], 'always the same txId');
    assert.equal(receipt.txId, tx.txId);
    await ledger.close();
  });

  it('asks the commit status again after CommitStatusErrors, without resubmitting', async () => {
    const { chain, log, ledger } = await harness();
    chain.faults.status.push(
      (tx) => commitStatusError(tx, grpcStatus.DEADLINE_EXCEEDED),
      (tx) => commitStatusError(tx, grpcStatus.UNAVAILABLE),
    );
    const receipt = await ledger.anchor(log.checkpoint(5));
    const tx = chain.proposals[0].tx;
    assert.equal(tx.statusChecks, 3);
    assert.equal(tx.submissions, 1);
    assert.equal(receipt.blockNumber, chain.block);
    await ledger.close();
  });

  it('reruns the whole flow with a proof from the new latest anchor after [STALE_PREVIOUS]', async () => {
    const { chain, log, ledger, warnings } = await harness();
    await ledger.anchor(log.checkpoint(4));
    chain.beforeEndorse = () => {
      chain.beforeEndorse = undefined;
      chain.anchorDirect(log.checkpoint(6));
    };
    const receipt = await ledger.anchor(log.checkpoint(8));
    const [, stale, rerun] = chain.proposals;
    assert.equal(chain.proposals.length, 3);
    assert.equal(stale.previousSize, 4);
    assert.equal(stale.tx.submissions, 0, 'the refused proposal is never submitted');
    assert.equal(rerun.previousSize, 6, 'recomputed from the fresh latest anchor');
    assert.deepEqual(verifyConsistency(6, 8, log.root(6), log.root(8), rerun.proof), { ok: true });
    assert.equal(receipt.txId, rerun.txId);
    assert.equal(receipt.sequence, 2);
    assert.ok(warnings.some((w) => w.obj.rerun === 1 && /STALE_PREVIOUS/.test(String(w.obj.reason))));
    await ledger.close();
  });

  it('reruns the whole flow after an MVCC read conflict at commit', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(4));
    chain.beforeCommit = () => {
      chain.beforeCommit = undefined;
      chain.anchorDirect(log.checkpoint(6));
    };
    const receipt = await ledger.anchor(log.checkpoint(8));
    const [, conflicted, rerun] = chain.proposals;
    assert.equal(chain.proposals.length, 3);
    assert.equal(conflicted.tx.submissions, 1);
    assert.equal(rerun.previousSize, 6);
    assert.deepEqual(verifyConsistency(6, 8, log.root(6), log.root(8), rerun.proof), { ok: true });
    assert.equal(receipt.txId, rerun.txId);
    assert.deepEqual(
      chain.anchors.get(ORIGIN)?.map((a) => a.size),
      [4, 6, 8],
    );
    await ledger.close();
  });

  it('reruns after a CommitError carrying MVCC_READ_CONFLICT, and alarms on one carrying another code', async () => {
    const { chain, log, ledger } = await harness();
    chain.faults.status.push((tx) => new CommitError({ code: StatusCode.MVCC_READ_CONFLICT, transactionId: tx, message: 'mvcc' }));
    const receipt = await ledger.anchor(log.checkpoint(3));
    assert.equal(chain.proposals.length, 2);
    assert.equal(receipt.txId, chain.proposals[1].txId);

    chain.faults.status.push((tx) => new CommitError({ code: StatusCode.ENDORSEMENT_POLICY_FAILURE, transactionId: tx, message: 'policy' }));
    const err = await rejection(ledger.anchor(log.checkpoint(5)));
    assert.ok(err instanceof LedgerRejectedError, String(err));
    assert.equal(err.txId, chain.proposals[2].txId);
    assert.equal(chain.proposals.length, 3, 'not rerun');
    await ledger.close();
  });

  it('raises LedgerRejectedError, carrying the txId, for a commit validated with another code (no rerun)', async () => {
    const { chain, log, ledger } = await harness();
    chain.commitCodes.push(StatusCode.ENDORSEMENT_POLICY_FAILURE);
    const err = await rejection(ledger.anchor(log.checkpoint(5)));
    assert.ok(err instanceof LedgerRejectedError, String(err));
    assert.equal(err.code, 'LEDGER_REJECTED');
    assert.equal(err.txId, chain.proposals[0].txId);
    assert.match(err.message, /ENDORSEMENT_POLICY_FAILURE/);
    assert.equal(chain.proposals.length, 1);
    await ledger.close();
  });

  it('maps each chaincode refusal at endorsement to its error, never submitting', async () => {
    const cases: { text: string; check: (e: unknown) => boolean }[] = [
      { text: '[OUT_OF_ORDER] latest=12', check: (e) => e instanceof OutOfOrderError && e.latestSize === 12 && e.size === 5 },
      { text: '[BAD_SIGNATURE] no signature by the trusted key', check: (e) => e instanceof InvalidCheckpointError },
      { text: '[BAD_CONSISTENCY_PROOF] root mismatch', check: (e) => e instanceof InvalidCheckpointError },
      { text: '[INVALID_ARGUMENT] previousSize is not a size', check: (e) => e instanceof InvalidCheckpointError },
      { text: '[UNKNOWN_LOG] custodian.test/log is not registered', check: (e) => e instanceof LedgerRejectedError },
      { text: '[FORBIDDEN] registered by Org2MSP, not Org1MSP', check: (e) => e instanceof LedgerRejectedError },
    ];
    for (const c of cases) {
      const { chain, log, ledger } = await harness();
      chain.faults.endorse.push((tx) => refusal(tx, c.text));
      const err = await rejection(ledger.anchor(log.checkpoint(5)));
      assert.ok(c.check(err), `${c.text} → ${String(err)}`);
      assert.equal(chain.proposals.length, 1, `${c.text}: no rerun`);
      assert.equal(chain.proposals[0].tx.endorsements, 1, `${c.text}: not endorsed again`);
      assert.equal(chain.proposals[0].tx.submissions, 0, `${c.text}: not submitted`);
      await ledger.close();
    }
  });

  it('lets the real chaincode rules refuse a note signed by another key as BAD_SIGNATURE', async () => {
    const { chain, log, ledger } = await harness();
    const stranger = generateKeyPairSync('ed25519').privateKey;
    await assert.rejects(ledger.anchor(log.checkpoint(5, stranger)), InvalidCheckpointError);
    assert.equal(chain.proposals[0].tx.submissions, 0);
    await ledger.close();
  });

  it('raises LedgerRejectedError for non-transient gRPC codes, an orderer refusal and a malformed chaincode answer', async () => {
    const faults: { stage: 'endorse' | 'submit'; fault: Fault }[] = [
      { stage: 'endorse', fault: (tx) => endorseError(tx, grpcStatus.PERMISSION_DENIED) },
      { stage: 'endorse', fault: () => new MalformedResponseError('AnchorCheckpoint result', 'not a JSON object') },
      { stage: 'submit', fault: (tx) => submitError(tx, grpcStatus.ABORTED, 'received unsuccessful response from orderer: status=FORBIDDEN, info=') },
      { stage: 'submit', fault: (tx) => submitError(tx, grpcStatus.ABORTED, 'received unsuccessful response from orderer: BAD_REQUEST') },
      { stage: 'submit', fault: (tx) => submitError(tx, grpcStatus.INVALID_ARGUMENT, 'prepared transaction must be signed') },
    ];
    for (const { stage, fault } of faults) {
      const { chain, log, ledger } = await harness();
      chain.faults[stage].push(fault);
      const err = await rejection(ledger.anchor(log.checkpoint(5)));
      assert.ok(err instanceof LedgerRejectedError, String(err));
      assert.equal(err.txId, chain.proposals[0].txId);
      const tx = chain.proposals[0].tx;
      assert.equal(stage === 'endorse' ? tx.endorsements : tx.submissions, 1, 'not retried');
      await ledger.close();
    }
  });

  it('refuses a chaincode answer about another checkpoint or another note, never submitting it', async () => {
    for (const change of [{ size: 6 }, { rootHash: toBase64(Buffer.alloc(32, 7)) }, { note: 'another note' }]) {
      const { chain, log, ledger } = await harness();
      const simulate = chain.simulate.bind(chain);
      chain.simulate = (...args) => {
        const result = simulate(...args);
        if (result.outcome.status === 'anchored') result.outcome = { status: 'anchored', record: { ...result.outcome.record, ...change } };
        return result;
      };
      const err = await rejection(ledger.anchor(log.checkpoint(5)));
      assert.ok(err instanceof LedgerRejectedError, `${JSON.stringify(change)}: ${String(err)}`);
      assert.equal(chain.proposals[0].tx.submissions, 0);
      await ledger.close();
    }
  });

  it('gives up after maxAttempts per stage with LedgerUnavailableError carrying the txId', async () => {
    const stages: { stage: 'endorse' | 'submit' | 'status'; fault: Fault; count: (tx: FakeTx) => number }[] = [
      { stage: 'endorse', fault: (tx) => endorseError(tx, grpcStatus.UNAVAILABLE), count: (tx) => tx.endorsements },
      { stage: 'submit', fault: (tx) => submitError(tx, grpcStatus.UNAVAILABLE), count: (tx) => tx.submissions },
      { stage: 'status', fault: (tx) => commitStatusError(tx, grpcStatus.DEADLINE_EXCEEDED), count: (tx) => tx.statusChecks },
    ];
    for (const { stage, fault, count } of stages) {
      const { chain, log, ledger, sleeps } = await harness({ maxAttempts: 4 });
      for (let i = 0; i < 10; i++) chain.faults[stage].push(fault);
      const err = await rejection(ledger.anchor(log.checkpoint(5)));
      assert.ok(err instanceof LedgerUnavailableError, `${stage}: ${String(err)}`);
      assert.equal(err.txId, chain.proposals[0].txId, `${stage}: carries the txId`);
      assert.equal(count(chain.proposals[0].tx), 4, `${stage}: exactly maxAttempts tries`);
      assert.equal(chain.proposals.length, 1);
      assert.deepEqual(sleeps, [100, 200, 400]);
      await ledger.close();
    }
  });

  it('gives up after maxReruns read conflicts with LedgerUnavailableError carrying the last txId', async () => {
    const { chain, log, ledger } = await harness({ maxReruns: 2 });
    for (let i = 0; i < 5; i++) chain.faults.status.push((tx) => new CommitError({ code: StatusCode.MVCC_READ_CONFLICT, transactionId: tx, message: 'mvcc' }));
    const err = await rejection(ledger.anchor(log.checkpoint(5)));
    assert.ok(err instanceof LedgerUnavailableError, String(err));
    assert.equal(chain.proposals.length, 3, 'the first run and two reruns');
    assert.equal(err.txId, chain.proposals[2].txId);
    await ledger.close();
  });

  it('retries reads on transient failures and refuses on permanent ones', async () => {
    const { chain, log, ledger } = await harness();
    await ledger.anchor(log.checkpoint(5));
    chain.faults.query.push((tx) => endorseError(tx, grpcStatus.UNAVAILABLE));
    assert.equal((await ledger.latest(ORIGIN))?.size, 5);
    assert.equal(chain.calls.filter((c) => c === 'GetLatest').length, 3, 'one in anchor, two in latest()');
    chain.faults.query.push((tx) => endorseError(tx, grpcStatus.PERMISSION_DENIED));
    await assert.rejects(ledger.latest(ORIGIN), LedgerRejectedError);
    for (let i = 0; i < 3; i++) chain.faults.query.push((tx) => endorseError(tx, grpcStatus.UNAVAILABLE));
    await assert.rejects(ledger.covering(ORIGIN, 1), LedgerUnavailableError);
    await ledger.close();
  });
});

describe('FabricLedger: registration, status, close', () => {
  it('defers the registration when the ledger is unreachable at open, and registers before the next anchor', async () => {
    const chain = new FakeChain();
    for (let i = 0; i < 3; i++) chain.faults.register.push((tx) => endorseError(tx, grpcStatus.UNAVAILABLE));
    const { log, ledger, warnings } = await harness({ chain });
    assert.equal(chain.registrations.size, 0);
    assert.ok(warnings.some((w) => /registration deferred/.test(w.msg ?? '')));
    assert.equal((await ledger.status()).healthy, false, 'not healthy while the log is unregistered');
    const before = chain.calls.length;
    await ledger.anchor(log.checkpoint(5));
    assert.deepEqual(chain.calls.slice(before, before + 2), ['RegisterLog', 'GetLatest']);
    assert.equal(chain.registrations.get(ORIGIN)?.verifierKey, VERIFIER_KEY);
    await ledger.close();
  });

  it('refuses to open when the origin is registered with another key', async () => {
    const chain = new FakeChain();
    const otherKey = verifierKeyOf(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    await chain.registerLog(ORIGIN, otherKey);
    await assert.rejects(harness({ chain }), LedgerRejectedError);
  });

  it('is healthy only when its query answers in time', async () => {
    const { chain, ledger } = await harness({ statusTimeoutMs: 30 });
    const ok = await ledger.status();
    assert.equal(ok.name, 'fabric');
    assert.equal(ok.healthy, true, ok.detail);
    assert.match(ok.detail ?? '', /channel custodian, chaincode custodian-anchor, as Org1MSP/);

    chain.faults.query.push((tx) => endorseError(tx, grpcStatus.UNAVAILABLE));
    const down = await ledger.status();
    assert.equal(down.healthy, false);
    assert.match(down.detail ?? '', /UNAVAILABLE/);

    chain.getLog = () => new Promise(() => undefined);
    const slow = await ledger.status();
    assert.equal(slow.healthy, false);
    assert.match(slow.detail ?? '', /no answer within 30 ms/);
    await ledger.close();
  });

  it('closes once, calls onClose, and refuses work afterwards', async () => {
    let closes = 0;
    const { log, ledger } = await harness({ onClose: () => void closes++ });
    await ledger.close();
    await ledger.close();
    assert.equal(closes, 1);
    assert.deepEqual(await ledger.status(), { name: 'fabric', healthy: false, detail: 'closed' });
    await assert.rejects(ledger.anchor(log.checkpoint(5)), LedgerUnavailableError);
    await assert.rejects(ledger.latest(ORIGIN), LedgerUnavailableError);
  });
});

describe('checkFabricReceipt', () => {
  it('accepts a receipt the ledger holds, and names what disagrees otherwise', async () => {
    const { chain, log, ledger } = await harness();
    const receipt = await ledger.anchor(log.checkpoint(5));
    assert.deepEqual(await checkFabricReceipt(receipt, chain), { ok: true });

    const proof = receipt.proof as Record<string, unknown>;
    const tampered: [string, unknown, RegExp][] = [
      ['root', { ...receipt, rootHash: b64(log.root(6)) }, /note does not carry|root/],
      ['txId', { ...receipt, txId: 'tx999', proof: { ...proof, txId: 'tx999' } }, /transaction tx1, not tx999/],
      ['proof txId', { ...receipt, proof: { ...proof, txId: 'tx999' } }, /another transaction/],
      ['size', { ...receipt, size: 6 }, /note does not carry/],
      ['format', { ...receipt, proof: { ...proof, format: 'other' } }, /proof is not/],
      ['ledger', { ...receipt, ledger: 'embedded' }, /not fabric/],
      ['sequence', { ...receipt, sequence: 3 }, /number 0 of its log, not 3/],
    ];
    for (const [what, r, reason] of tampered) {
      const verdict = await checkFabricReceipt(r as typeof receipt, chain);
      assert.equal(verdict.ok, false, what);
      assert.match((verdict as { reason: string }).reason, reason, what);
    }

    // The ledger's anchor replaced underneath (what a rewritten channel would show).
    chain.anchors.set(ORIGIN, [{ ...chain.latestOf(ORIGIN)!, note: `${chain.latestOf(ORIGIN)!.note}x` }]);
    assert.deepEqual(await checkFabricReceipt(receipt, chain), { ok: false, reason: 'the anchored note differs from the receipt note' });
    chain.anchors.set(ORIGIN, []);
    assert.match(((await checkFabricReceipt(receipt, chain)) as { reason: string }).reason, /holds no anchor/);
    await ledger.close();
  });
});
