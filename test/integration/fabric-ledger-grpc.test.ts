import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CONFIRMED_FILE,
  EVENTS_CHECKPOINT_FILE,
  FabricLedger,
  checkFabricReceipt,
  connectFabric,
  openFabric,
  type AnchorContract,
  type EquivocationAlarm,
  type FabricConfig,
  type OpenFabric,
} from '../../ledger-adapter/fabric/index.js';
import { AnchorOutbox } from '../../ledger-adapter/src/anchor/anchor-outbox.js';
import {
  EquivocationError,
  LedgerRejectedError,
  LedgerUnavailableError,
  type AnchorReceipt,
  type CheckpointToAnchor,
  type LedgerPort,
} from '../../ledger-adapter/src/anchor/ledger-port.js';
import { fromBase64Strict, toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { verifyConsistency } from '../../ledger-adapter/src/merkle/proofs.js';
import {
  CHAINCODE,
  CHANNEL,
  HarnessLog,
  anchoredInBlocks,
  anchorsInState,
  captureLogger,
  equivocationsInState,
  fabricConfigFor,
  latestInState,
  startAnchorGateway,
  validationsOf,
  waitFor,
} from '../support/fabric-gateway/adapter-harness.js';
import { FABRIC_FIXTURE_DIR } from '../support/fabric-gateway/fixtures.js';
import type { GatewayServer } from '../support/fabric-gateway/server.js';

/**
 * Issue 7 §3–§4 over real gRPC: the Fabric adapter (openFabric: connection, FabricLedger,
 * AnchorListener) against the in-process Fabric Gateway running the project's anchor chaincode,
 * with a real Merkle log (LMDB, Ed25519 key, consistency proofs) and, where stated, the real
 * AnchorOutbox in front. Failures are the gateway's injected faults, its stop()/restart(), and
 * a second client racing for the latest pointer. What the channel holds is read from the peer's
 * world state and blocks, not from the adapter.
 */

const ORIGIN = (name: string) => `custodian.test/fabric-grpc/${name}`;
const b64 = (bytes: Uint8Array) => toBase64(bytes);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` so that nothing waits forever on a stuck flow. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a describe opens, closed in reverse order in its `after`. */
class Resources {
  private readonly closers: Array<() => Promise<unknown> | unknown> = [];
  add<T>(value: T, close: (value: T) => Promise<unknown> | unknown): T {
    this.closers.push(() => close(value));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // closing what a failed test left behind: keep closing the rest
      }
    }
  }
}

interface Rig {
  log: HarnessLog;
  fabric: OpenFabric;
  logger: ReturnType<typeof captureLogger>;
  config: FabricConfig;
}

/** A Merkle log of its own (one log per FabricLedger) and the adapter opened for it. */
async function rig(
  res: Resources,
  dir: string,
  server: GatewayServer,
  name: string,
  options: { config?: FabricConfig; listenerDir?: string; onEquivocation?: (alarm: EquivocationAlarm) => void } = {},
): Promise<Rig> {
  const log = res.add(await HarnessLog.open(join(dir, name, 'log'), ORIGIN(name)), (l) => l.close());
  const logger = captureLogger();
  const config = options.config ?? fabricConfigFor(server.address);
  const fabric = res.add(
    await openFabric(config, {
      log: log.log,
      verifierKey: log.verifierKey,
      logger,
      ...(options.listenerDir ? { listenerDir: options.listenerDir } : {}),
      ...(options.onEquivocation ? { onEquivocation: options.onEquivocation } : {}),
    }),
    (f) => f.ledger.close(),
  );
  return { log, fabric, logger, config };
}

function assertReceiptOf(receipt: AnchorReceipt, cp: CheckpointToAnchor, sequence: number, server: GatewayServer): void {
  assert.equal(receipt.ledger, 'fabric');
  assert.equal(receipt.origin, cp.origin);
  assert.equal(receipt.size, cp.size);
  assert.equal(receipt.rootHash, b64(cp.rootHash));
  assert.equal(receipt.sequence, sequence);
  assert.match(receipt.txId ?? '', /^[0-9a-f]{64}$/);
  assert.ok(!Number.isNaN(Date.parse(receipt.anchoredAt)));
  // The block is the one the peer committed the transaction in.
  assert.equal(receipt.blockNumber, server.ledger.blockOf(receipt.txId as string));
  assert.deepEqual(receipt.proof, {
    format: 'custodian-fabric-anchor/v1',
    channel: CHANNEL,
    chaincode: CHAINCODE,
    mspId: 'Org1MSP',
    txId: receipt.txId,
    blockNumber: receipt.blockNumber,
    note: cp.note,
  });
}

/** A LedgerPort in front of `ledger` that keeps every failure of anchor(). */
function recordingPort(ledger: LedgerPort, errors: unknown[]): LedgerPort {
  return {
    name: ledger.name,
    anchor: (cp) =>
      ledger.anchor(cp).catch((err: unknown) => {
        errors.push(err);
        throw err;
      }),
    latest: (origin) => ledger.latest(origin),
    covering: (origin, size) => ledger.covering(origin, size),
    status: () => ledger.status(),
    close: () => ledger.close(),
  };
}

describe('Fabric ledger over gRPC: anchoring, retries, conflicts, refusals', { timeout: 120_000 }, () => {
  const res = new Resources();
  const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-grpc-'));
  let server: GatewayServer;
  before(async () => {
    server = res.add(await startAnchorGateway(), (s) => s.close());
  });
  after(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchors a first and later checkpoints: receipts with txId and block, latest(), covering(), the chaincode world state', async () => {
    const { log, fabric } = await rig(res, dir, server, 'anchoring');
    const ledger = fabric.ledger;
    const health = await ledger.status();
    assert.equal(health.healthy, true, health.detail);
    assert.match(health.detail ?? '', /registered by Org1MSP/);

    const cps = [await log.next(3), await log.next(4), await log.next(5)];
    const receipts: AnchorReceipt[] = [];
    for (const cp of cps) receipts.push(await ledger.anchor(cp));
    receipts.forEach((r, i) => assertReceiptOf(r, cps[i]!, i, server));
    const blocks = receipts.map((r) => r.blockNumber as number);
    assert.deepEqual(blocks, [...blocks].sort((a, b) => a - b));
    assert.equal(new Set(blocks).size, 3, 'each anchor is its own transaction and block');
    const [r1, r2, r3] = receipts as [AnchorReceipt, AnchorReceipt, AnchorReceipt];

    assert.deepEqual(await ledger.latest(log.origin), r3);
    assert.deepEqual(await ledger.covering(log.origin, 1), r1);
    assert.deepEqual(await ledger.covering(log.origin, 3), r1);
    assert.deepEqual(await ledger.covering(log.origin, 4), r2);
    assert.deepEqual(await ledger.covering(log.origin, 12), r3);
    assert.equal(await ledger.covering(log.origin, 13), undefined);
    assert.equal(await ledger.latest(ORIGIN('nobody')), undefined);

    // The peer's world state holds the three anchors, write-once per size, and the latest pointer.
    const stored = anchorsInState(server, log.origin);
    assert.deepEqual(
      stored.map((a) => [a.size, a.rootHash, a.note, a.txId, a.sequence, a.mspId, a.anchoredAt]),
      receipts.map((r, i) => [r.size, r.rootHash, cps[i]!.note, r.txId, i, 'Org1MSP', r.anchoredAt]),
    );
    assert.deepEqual(latestInState(server, log.origin), { size: 12, rootHash: r3.rootHash, sequence: 2 });
    assert.deepEqual(
      anchoredInBlocks(server, log.origin),
      receipts.map((r) => ({ txId: r.txId, size: r.size, blockNumber: r.blockNumber })),
    );
  });

  it('checkFabricReceipt accepts the receipts and refuses tampered ones, saying what the channel holds instead', async () => {
    const { log, fabric } = await rig(res, dir, server, 'receipt-check');
    const contract = fabric.connection.anchorContract;
    const r1 = await fabric.ledger.anchor(await log.next(2));
    const r2 = await fabric.ledger.anchor(await log.next(3));
    assert.deepEqual(await checkFabricReceipt(r1, contract), { ok: true });
    assert.deepEqual(await checkFabricReceipt(r2, contract), { ok: true });
    const unanchored = await log.next(1);

    const refused = async (receipt: AnchorReceipt, reason: RegExp) => {
      const verdict = await checkFabricReceipt(receipt, contract);
      assert.equal(verdict.ok, false, `accepted: ${JSON.stringify(receipt)}`);
      assert.match((verdict as { reason: string }).reason, reason);
    };
    await refused({ ...r2, anchoredAt: '2020-01-01T00:00:00.000Z' }, /the ledger anchored it at .*, not 2020-01-01/);
    await refused({ ...r2, sequence: 7 }, /number 1 of its log, not 7/);
    await refused({ ...r2, txId: r1.txId, proof: { ...(r2.proof as object), txId: r1.txId } }, new RegExp(`in transaction ${r2.txId}, not ${r1.txId}`));
    // A well-formed receipt for a checkpoint that was signed but never anchored.
    await refused(
      { ...r2, size: unanchored.size, rootHash: b64(unanchored.rootHash), proof: { ...(r2.proof as object), note: unanchored.note } },
      new RegExp(`holds no anchor of .* at size ${unanchored.size}`),
    );
    // Another root under the anchored note: caught before asking the channel.
    await refused({ ...r2, rootHash: r1.rootHash }, /proof note does not carry the receipt origin, size and root/);
    await refused({ ...r2, ledger: 'embedded' }, /from the embedded ledger, not fabric/);
  });

  it('retries endorsements that fail UNAVAILABLE with the same proposal, and anchors once', async () => {
    const { log, fabric, logger } = await rig(res, dir, server, 'endorse-retry');
    server.faults.failEndorsements(2);
    const receipt = await fabric.ledger.anchor(await log.next(4));
    const retries = logger.entries.filter((e) => e.obj.stage === 'endorse');
    assert.equal(retries.length, 2);
    for (const r of retries) assert.equal(r.obj.txId, receipt.txId, 'the same signed proposal (one txId) is endorsed again');
    assert.deepEqual(validationsOf(server, receipt.txId as string), ['VALID']);
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.txId), [receipt.txId]);
    assert.deepEqual(await checkFabricReceipt(receipt, fabric.connection.anchorContract), { ok: true });

    // More failures than FABRIC_MAX_ATTEMPTS: unavailable for now (the outbox's to retry), nothing written.
    server.faults.failEndorsements(4);
    const cp = await log.next(1);
    await assert.rejects(fabric.ledger.anchor(cp), (err: unknown) => {
      assert.ok(err instanceof LedgerUnavailableError, String(err));
      assert.match(err.message, /endorse failed 4 times for transaction [0-9a-f]{64}/);
      assert.match(err.txId ?? '', /^[0-9a-f]{64}$/);
      return true;
    });
    assert.equal(anchorsInState(server, log.origin).length, 1);
    const later = await fabric.ledger.anchor(cp);
    assert.equal(later.sequence, 1);
  });

  it('a submit that timed out but was ordered is not anchored twice: the retry finds the first commit, a replay returns the first receipt', async () => {
    const { log, fabric, logger } = await rig(res, dir, server, 'submit-timeout', {
      config: fabricConfigFor(server.address, { extra: { FABRIC_SUBMIT_TIMEOUT_MS: '250' } }),
    });
    server.faults.hangSubmits(1, { order: true });
    const cp = await log.next(3);
    const receipt = await within(fabric.ledger.anchor(cp), 10_000, 'anchor');
    const submitRetries = logger.entries.filter((e) => e.obj.stage === 'submit');
    assert.equal(submitRetries.length, 1);
    assert.equal(submitRetries[0]!.obj.txId, receipt.txId);
    assert.match(String(submitRetries[0]!.obj.err), /DEADLINE_EXCEEDED/);
    await server.ledger.settled();
    // The same signed transaction went to ordering twice: the second is a duplicate, not an anchor.
    assert.deepEqual(validationsOf(server, receipt.txId as string), ['VALID', 'DUPLICATE_TXID']);
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.txId), [receipt.txId]);

    const height = server.blocks.length;
    assert.deepEqual(await fabric.ledger.anchor(cp), receipt, 'a replay returns the first receipt');
    assert.equal(server.blocks.length, height, 'a replay writes nothing');
  });

  it('through the outbox: every submit times out but the first was ordered; the outbox retries later and gets the first receipt', async () => {
    const { log, fabric } = await rig(res, dir, server, 'submit-timeout-outbox', {
      config: fabricConfigFor(server.address, { extra: { FABRIC_SUBMIT_TIMEOUT_MS: '200', FABRIC_MAX_ATTEMPTS: '3' } }),
    });
    const errors: unknown[] = [];
    const outbox = res.add(
      await AnchorOutbox.open({ dir: join(dir, 'submit-timeout-outbox', 'outbox'), port: recordingPort(fabric.ledger, errors), retry: { initialMs: 50, maxMs: 200 } }),
      (o) => o.close(),
    );
    server.faults.hangSubmits(3, { order: true });
    const cp = await log.next(5);
    await outbox.enqueue(cp);
    outbox.start();
    await within(outbox.drain(), 15_000, 'outbox drain');

    assert.equal(errors.length, 1);
    const failure = errors[0];
    assert.ok(failure instanceof LedgerUnavailableError, String(failure));
    assert.match(failure.message, /submit failed 3 times/);
    const receipt = outbox.lag().lastAnchored as AnchorReceipt;
    assert.equal(receipt.txId, failure.txId, 'the receipt is the transaction the ledger gave up waiting for');
    assert.equal(outbox.lag().anchored, 1);
    await server.ledger.settled();
    assert.deepEqual(validationsOf(server, receipt.txId as string), ['VALID', 'DUPLICATE_TXID', 'DUPLICATE_TXID']);
    assert.deepEqual(anchoredInBlocks(server, log.origin).map((a) => [a.txId, a.size]), [[receipt.txId, 5]]);
  });

  it('a forced MVCC conflict at commit reruns the flow from a fresh latest anchor and ends anchored', async () => {
    const { log, fabric, logger } = await rig(res, dir, server, 'mvcc-forced');
    const first = await fabric.ledger.anchor(await log.next(2));
    server.faults.forceMvccConflicts(1);
    const cp = await log.next(3);
    const receipt = await fabric.ledger.anchor(cp);
    const reruns = logger.entries.filter((e) => /rerunning the anchor/.test(e.msg ?? ''));
    assert.equal(reruns.length, 1);
    assert.match(String(reruns[0]!.obj.reason), /MVCC_READ_CONFLICT/);
    const lost = reruns[0]!.obj.txId as string;
    assert.notEqual(lost, receipt.txId, 'the rerun is a new transaction');
    assert.deepEqual(validationsOf(server, lost), ['MVCC_READ_CONFLICT']);
    assert.deepEqual(validationsOf(server, receipt.txId as string), ['VALID']);
    assertReceiptOf(receipt, cp, 1, server);
    const proof = log.log.consistencyProof(first.size, receipt.size);
    assert.equal(verifyConsistency(first.size, receipt.size, fromBase64Strict(first.rootHash)!, cp.rootHash, proof).ok, true);
    assert.deepEqual(await checkFabricReceipt(receipt, fabric.connection.anchorContract), { ok: true });
  });

  it('another client moves the latest pointer between endorse and commit: MVCC conflict, rerun with a new proof, anchored after it', async () => {
    const log = res.add(await HarnessLog.open(join(dir, 'mvcc-race', 'log'), ORIGIN('mvcc-race')), (l) => l.close());
    const config = fabricConfigFor(server.address);
    const logger = captureLogger();
    // "Another client": a second process anchoring the same log through its own connection.
    const other = res.add(await openFabric(config, { log: log.log, verifierKey: log.verifierKey }), (f) => f.ledger.close());
    const connection = res.add(connectFabric(config), (c) => c.close());
    const base = connection.anchorContract;
    let race: CheckpointToAnchor | undefined;
    let competing: AnchorReceipt | undefined;
    // The real typed contract, with the other client's anchor slipped in after our endorsement.
    const contract: AnchorContract = {
      registerLog: (origin, key) => base.registerLog(origin, key),
      getLog: (origin) => base.getLog(origin),
      getLatest: (origin) => base.getLatest(origin),
      getAnchor: (origin, size) => base.getAnchor(origin, size),
      getRange: (origin, from, to, limit) => base.getRange(origin, from, to, limit),
      proposeAnchor(note, previousSize, proof) {
        const tx = base.proposeAnchor(note, previousSize, proof);
        return {
          txId: tx.txId,
          endorse: async () => {
            const outcome = await tx.endorse();
            const cp = race;
            race = undefined;
            if (cp) competing = await other.ledger.anchor(cp);
            return outcome;
          },
          submit: () => tx.submit(),
          status: () => tx.status(),
        };
      },
    };
    const ledger = res.add(
      await FabricLedger.open({
        contract,
        network: { channel: CHANNEL, chaincode: CHAINCODE, mspId: 'Org1MSP' },
        log: log.log,
        verifierKey: log.verifierKey,
        maxAttempts: config.maxAttempts,
        maxReruns: config.maxReruns,
        logger,
      }),
      (l) => l.close(),
    );

    const first = await ledger.anchor(await log.next(2));
    const middle = await log.next(3);
    const top = await log.next(4);
    race = middle;
    const receipt = await ledger.anchor(top);

    assert.ok(competing, 'the other client anchored in between');
    assert.equal(competing.size, 5);
    assert.equal(competing.sequence, 1);
    const reruns = logger.entries.filter((e) => /rerunning the anchor/.test(e.msg ?? ''));
    assert.equal(reruns.length, 1);
    const lost = reruns[0]!.obj.txId as string;
    assert.deepEqual(validationsOf(server, lost), ['MVCC_READ_CONFLICT'], 'our first transaction read a latest pointer that moved');
    assertReceiptOf(receipt, top, 2, server);
    assert.deepEqual(
      anchorsInState(server, log.origin).map((a) => [a.size, a.sequence, a.txId]),
      [
        [2, 0, first.txId],
        [5, 1, competing.txId],
        [9, 2, receipt.txId],
      ],
    );
    // The anchor that won was proven from the other client's anchor, not from the one it first read.
    const proof = log.log.consistencyProof(5, 9);
    assert.equal(verifyConsistency(5, 9, middle.rootHash, top.rootHash, proof).ok, true);
    for (const r of [first, competing, receipt]) assert.deepEqual(await checkFabricReceipt(r, base), { ok: true });
  });

  it('a commit invalidated as ENDORSEMENT_POLICY_FAILURE is LedgerRejectedError; through the outbox an alarm, the entry kept', async () => {
    const { log, fabric } = await rig(res, dir, server, 'policy-failure');
    await fabric.ledger.anchor(await log.next(2));
    server.faults.forceValidationCode('ENDORSEMENT_POLICY_FAILURE');
    const cp = await log.next(2);
    await assert.rejects(fabric.ledger.anchor(cp), (err: unknown) => {
      assert.ok(err instanceof LedgerRejectedError, String(err));
      assert.match(err.message, /committed invalid: ENDORSEMENT_POLICY_FAILURE/);
      assert.deepEqual(validationsOf(server, err.txId as string), ['ENDORSEMENT_POLICY_FAILURE']);
      return true;
    });
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.size), [2]);

    const outboxDir = join(dir, 'policy-failure', 'outbox');
    const alarms: string[] = [];
    let outbox = await AnchorOutbox.open({ dir: outboxDir, port: fabric.ledger, retry: { initialMs: 50, maxMs: 200 }, onAlarm: (a) => alarms.push(a.kind) });
    try {
      server.faults.forceValidationCode('ENDORSEMENT_POLICY_FAILURE');
      await outbox.enqueue(cp);
      outbox.start();
      await assert.rejects(within(outbox.drain(), 10_000, 'drain'), LedgerRejectedError);
      await waitFor('the worker to stop', () => !outbox.lag().running);
      const lag = outbox.lag();
      assert.equal(lag.alarm?.kind, 'ledger-rejected');
      assert.equal(lag.alarm?.size, cp.size);
      assert.match(lag.alarm?.message ?? '', /ENDORSEMENT_POLICY_FAILURE/);
      assert.equal(lag.pending, 1, 'the checkpoint stays in the outbox');
      assert.equal(lag.anchored, 0);
      assert.deepEqual(alarms, ['ledger-rejected']);
      assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.size), [2]);
    } finally {
      await outbox.close();
    }
    // A person fixed the policy: the reopened outbox still has the checkpoint and anchors it.
    outbox = res.add(await AnchorOutbox.open({ dir: outboxDir, port: fabric.ledger, retry: { initialMs: 50, maxMs: 200 } }), (o) => o.close());
    assert.equal(outbox.lag().pending, 1);
    outbox.start();
    await within(outbox.drain(), 10_000, 'drain after the fix');
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.size), [2, 4]);
  });
});

describe('Fabric ledger over gRPC: the peer goes away and comes back', { timeout: 120_000 }, () => {
  const res = new Resources();
  const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-outage-'));
  let server: GatewayServer;
  before(async () => {
    server = res.add(await startAnchorGateway(), (s) => s.close());
  });
  after(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchoring fails with backoff while the peer is away, checkpoints keep queueing, then all are anchored in order, none twice', async () => {
    const { log, fabric } = await rig(res, dir, server, 'outage', {
      config: fabricConfigFor(server.address, { extra: { FABRIC_MAX_ATTEMPTS: '2' } }),
      listenerDir: join(dir, 'outage', 'fabric'),
    });
    const listener = fabric.listener!;
    const receipts: AnchorReceipt[] = [];
    const outbox = res.add(
      await AnchorOutbox.open({ dir: join(dir, 'outage', 'outbox'), port: fabric.ledger, coalesce: false, retry: { initialMs: 100, maxMs: 800 }, onAnchored: (r) => receipts.push(r) }),
      (o) => o.close(),
    );
    outbox.start();
    await outbox.enqueue(await log.next(2));
    await within(outbox.drain(), 10_000, 'first anchor');
    await waitFor('the listener to confirm the first anchor', () => listener.confirmed(log.origin)?.size === 2);

    await server.stop();
    const queued = [await log.next(1)];
    await outbox.enqueue(queued[0]!);
    await waitFor('a failed attempt', () => (outbox.lag().lastError?.consecutiveFailures ?? 0) >= 1);
    queued.push(await log.next(2));
    await outbox.enqueue(queued[1]!);
    queued.push(await log.next(3));
    await outbox.enqueue(queued[2]!);
    await waitFor('several failed attempts', () => (outbox.lag().lastError?.consecutiveFailures ?? 0) >= 3, 20_000);
    const lag1 = outbox.lag();
    assert.equal(lag1.pending, 3);
    assert.equal(lag1.running, true);
    assert.equal(lag1.anchored, 1);
    assert.equal(lag1.alarm, undefined, 'an unreachable peer is no alarm');
    assert.equal(lag1.lastError?.code, 'LEDGER_UNAVAILABLE');
    assert.ok(lag1.lagSeconds > 0);
    await sleep(300);
    assert.ok(outbox.lag().lagSeconds > lag1.lagSeconds, 'the lag grows while the peer is away');
    const health = await fabric.ledger.status();
    assert.equal(health.healthy, false);
    assert.match(health.detail ?? '', /GetLog failed/);
    assert.equal(anchoredInBlocks(server, log.origin).length, 1, 'nothing reached the channel meanwhile');

    await server.restart();
    await waitFor('the outbox to empty', () => outbox.lag().pending === 0, 30_000);
    const lag2 = outbox.lag();
    assert.equal(lag2.lagSeconds, 0);
    assert.equal(lag2.anchored, 4);
    assert.deepEqual(
      receipts.map((r) => [r.size, r.sequence]),
      [
        [2, 0],
        [3, 1],
        [5, 2],
        [8, 3],
      ],
      'anchored in order, each once',
    );
    const committed = anchoredInBlocks(server, log.origin);
    assert.deepEqual(
      committed.map((a) => [a.size, a.txId]),
      receipts.map((r) => [r.size, r.txId]),
    );
    assert.equal(new Set(committed.map((a) => a.txId)).size, committed.length);
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.size), [2, 3, 5, 8]);
    assert.equal((await fabric.ledger.status()).healthy, true);
    // The event stream came back too (reconnected from its checkpoint).
    await waitFor('the listener to confirm the last anchor', () => listener.confirmed(log.origin)?.size === 8, 30_000);
    assert.equal(listener.confirmed(log.origin)?.txId, receipts[3]!.txId);
  });
});

describe('Fabric ledger over gRPC: the event listener', { timeout: 60_000 }, () => {
  const res = new Resources();
  const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-listener-'));
  let server: GatewayServer;
  before(async () => {
    // Its own channel: the listener reads every event of the chaincode from block 0.
    server = res.add(await startAnchorGateway(), (s) => s.close());
  });
  after(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('confirms anchors from events, resumes after a restart without reprocessing, and raises the equivocation alarm', async () => {
    const listenerDir = join(dir, 'listener');
    const log = res.add(await HarnessLog.open(join(dir, 'log'), ORIGIN('listener')), (l) => l.close());
    const config = fabricConfigFor(server.address);
    const open = async (onEquivocation?: (a: EquivocationAlarm) => void) =>
      openFabric(config, { log: log.log, verifierKey: log.verifierKey, listenerDir, ...(onEquivocation ? { onEquivocation } : {}) });

    const first = await open();
    let r2: AnchorReceipt;
    try {
      await first.ledger.anchor(await log.next(2));
      r2 = await first.ledger.anchor(await log.next(3));
      await waitFor('the second anchor confirmed', () => first.listener!.confirmed(log.origin)?.size === 5);
      assert.deepEqual(first.listener!.confirmed(log.origin), {
        origin: log.origin,
        size: 5,
        rootHash: r2.rootHash,
        sequence: 1,
        txId: r2.txId,
        blockNumber: r2.blockNumber,
        anchoredAt: r2.anchoredAt,
      });
      assert.equal(first.listener!.status().processed, 2);
      assert.ok(existsSync(join(listenerDir, CONFIRMED_FILE)));
      assert.ok(existsSync(join(listenerDir, EVENTS_CHECKPOINT_FILE)));
    } finally {
      await first.ledger.close();
    }

    // A restart: the same directory, a new connection and listener.
    const alarms: EquivocationAlarm[] = [];
    const second = res.add(await open((a) => alarms.push(a)), (f) => f.ledger.close());
    const listener = second.listener!;
    assert.equal(listener.confirmed(log.origin)?.txId, r2.txId, 'the confirmed anchor is read back from disk');
    await waitFor('the listener to connect', () => listener.status().connected);
    await sleep(300);
    assert.equal(listener.status().processed, 0, 'no event is processed twice');
    const r3 = await second.ledger.anchor(await log.next(1));
    await waitFor('the new anchor confirmed', () => listener.confirmed(log.origin)?.size === 6);
    assert.equal(listener.status().processed, 1);
    assert.equal(listener.confirmed(log.origin)?.txId, r3.txId);

    // A second tree of an anchored size, signed with the log's key, sent straight through the typed contract.
    const forked = log.forkedCheckpoint(5);
    assert.notEqual(b64(forked.rootHash), r2.rootHash);
    const tx = second.connection.anchorContract.proposeAnchor(forked.note, 6, []);
    const outcome = await tx.endorse();
    assert.equal(outcome.status, 'equivocation');
    await tx.submit();
    const commit = await tx.status();
    assert.equal(commit.successful, true, 'the evidence commits');
    const alarm = await waitFor('the equivocation alarm', () => alarms[0]);
    assert.equal(alarm.txId, tx.txId);
    assert.equal(alarm.blockNumber, commit.blockNumber);
    assert.deepEqual(
      alarm.evidence && [alarm.evidence.origin, alarm.evidence.size, alarm.evidence.anchoredRoot, alarm.evidence.anchoredTxId, alarm.evidence.offeredRoot, alarm.evidence.offeredNote, alarm.evidence.reportedTxId],
      [log.origin, 5, r2.rootHash, r2.txId, b64(forked.rootHash), forked.note, tx.txId],
    );
    assert.equal(equivocationsInState(server, log.origin).length, 1);
    // The anchor itself is unchanged, and the ledger refuses the forked checkpoint on its own.
    assert.equal(anchorsInState(server, log.origin).find((a) => a.size === 5)?.rootHash, r2.rootHash);
    await assert.rejects(second.ledger.anchor(forked), EquivocationError);
    assert.equal(listener.confirmed(log.origin)?.size, 6, 'an equivocation never moves the confirmed anchor');
  });
});

describe('Fabric ledger over gRPC: TLS', { timeout: 60_000 }, () => {
  const res = new Resources();
  const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-tls-'));
  let server: GatewayServer;
  before(async () => {
    server = res.add(await startAnchorGateway({ tls: true }), (s) => s.close());
  });
  after(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchors over TLS with the fixture CA and the peer host alias', async () => {
    const config = fabricConfigFor(server.address, { tls: true });
    assert.equal(config.tls.enabled, true);
    const { log, fabric } = await rig(res, dir, server, 'tls', { config });
    assert.equal((await fabric.ledger.status()).healthy, true);
    const receipt = await fabric.ledger.anchor(await log.next(3));
    assert.deepEqual(await checkFabricReceipt(receipt, fabric.connection.anchorContract), { ok: true });
    assert.deepEqual(anchorsInState(server, log.origin).map((a) => a.txId), [receipt.txId]);
  });

  it('cannot reach a TLS peer with another CA or in plaintext: unhealthy, anchoring unavailable, nothing written', async () => {
    // A CA that exists and is a certificate, but not the one that signed the peer's TLS certificate.
    const wrongCa = fabricConfigFor(server.address, { tls: true, extra: { FABRIC_TLS_CA_FILE: join(FABRIC_FIXTURE_DIR, 'org1/ca-cert.pem'), FABRIC_MAX_ATTEMPTS: '1' } });
    const plaintext = fabricConfigFor(server.address, { extra: { FABRIC_MAX_ATTEMPTS: '1' } });
    for (const [name, config] of [
      ['wrong-ca', wrongCa],
      ['plaintext', plaintext],
    ] as const) {
      const { log, fabric, logger } = await rig(res, dir, server, `unreachable-${name}`, { config });
      assert.ok(logger.entries.some((e) => /registration deferred/.test(e.msg ?? '')), `${name}: the registration waits for the peer`);
      assert.equal((await fabric.ledger.status()).healthy, false, name);
      await assert.rejects(fabric.ledger.anchor(await log.next(1)), LedgerUnavailableError, name);
      assert.deepEqual(anchorsInState(server, log.origin), [], name);
    }
  });
});
