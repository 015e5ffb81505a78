import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { GatewayError, type ChaincodeEvent, type Checkpoint, type CloseableAsyncIterable } from '@hyperledger/fabric-gateway';
import {
  AnchorListener,
  CONFIRMED_FILE,
  EVENTS_CHECKPOINT_FILE,
  type AnchorEventSource,
  type AnchorListenerOptions,
  type EquivocationAlarm,
} from '../../ledger-adapter/fabric/anchor-listener.js';
import type { AnchorRecord, EquivocationEvidence } from '../../ledger-adapter/fabric/anchor-records.js';
import type { ConfirmedAnchor } from '../../ledger-adapter/fabric/confirmed-anchors.js';

/**
 * The event listener over a fake event source that behaves as the gateway's ChaincodeEvents
 * does: it starts at the checkpoint's block, skips that block's events up to and including the
 * checkpoint's transaction, then delivers the channel's events as they come. No gRPC.
 */

const ORIGIN = 'custodian.test/log';
const root = mkdtempSync(join(tmpdir(), 'custodian-fabric-listener-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `listener-${dirs++}`);

const txIdOf = (n: number) => createHash('sha256').update(`tx ${n}`).digest('hex');
const rootOf = (size: number, variant = '') => createHash('sha256').update(`${size}${variant}`).digest('base64');

function anchoredEvent(block: number, n: number, size: number, origin = ORIGIN): ChaincodeEvent {
  const record: AnchorRecord = {
    origin,
    size,
    rootHash: rootOf(size),
    note: `${origin}\n${size}\n${rootOf(size)}\n\n\u2014 ${origin} AAAA\n`,
    sequence: n,
    txId: txIdOf(n),
    anchoredAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
    mspId: 'Org1MSP',
  };
  return { blockNumber: BigInt(block), transactionId: record.txId, chaincodeName: 'custodian-anchor', eventName: 'Anchored', payload: Buffer.from(JSON.stringify(record)) };
}

function equivocationEvent(block: number, n: number, size: number): ChaincodeEvent {
  const evidence: EquivocationEvidence = {
    origin: ORIGIN,
    size,
    anchoredRoot: rootOf(size),
    anchoredNote: `${ORIGIN}\n${size}\n${rootOf(size)}\n`,
    anchoredTxId: txIdOf(1),
    offeredRoot: rootOf(size, 'forged'),
    offeredNote: `${ORIGIN}\n${size}\n${rootOf(size, 'forged')}\n`,
    reportedTxId: txIdOf(n),
    reportedAt: new Date(Date.UTC(2025, 0, 2)).toISOString(),
    mspId: 'Org1MSP',
  };
  return { blockNumber: BigInt(block), transactionId: txIdOf(n), chaincodeName: 'custodian-anchor', eventName: 'Equivocation', payload: Buffer.from(JSON.stringify(evidence)) };
}

function unavailable(): GatewayError {
  const cause = Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: grpcStatus.UNAVAILABLE, details: 'connection refused', metadata: new Metadata() });
  return new GatewayError({ code: grpcStatus.UNAVAILABLE, details: [], cause, message: cause.message });
}

class FakeEventSource implements AnchorEventSource {
  /** The channel's chaincode events, in commit order. */
  readonly history: ChaincodeEvent[] = [];
  readonly opens: { block?: bigint; txId?: string; startBlock: bigint }[] = [];
  readonly openFailures: Error[] = [];
  private readonly live = new Set<{ wake: () => void; fail?: Error; closed: boolean }>();

  push(...events: ChaincodeEvent[]): void {
    this.history.push(...events);
    for (const s of this.live) s.wake();
  }

  /** Breaks every open stream, as a peer going away does. */
  breakStreams(err: Error): void {
    for (const s of this.live) {
      s.fail = err;
      s.wake();
    }
  }

  get openStreams(): number {
    return this.live.size;
  }

  async open(options: { checkpoint: Checkpoint; startBlock: bigint }): Promise<CloseableAsyncIterable<ChaincodeEvent>> {
    const block = options.checkpoint.getBlockNumber();
    const txId = options.checkpoint.getTransactionId();
    this.opens.push({ block, txId, startBlock: options.startBlock });
    const failure = this.openFailures.shift();
    if (failure) throw failure;
    const from = block ?? options.startBlock;
    const state = { wake: () => undefined as void, fail: undefined as Error | undefined, closed: false };
    this.live.add(state);
    const history = this.history;
    const live = this.live;
    // Past the checkpointed transaction in its block, as the gateway's afterTransactionId does.
    let skipping = txId !== undefined;
    async function* events(): AsyncGenerator<ChaincodeEvent> {
      let i = 0;
      try {
        for (;;) {
          if (state.fail) throw state.fail;
          if (state.closed) return;
          if (i < history.length) {
            const e = history[i++];
            if (e.blockNumber < from) continue;
            if (skipping && e.blockNumber === from) {
              if (e.transactionId === txId) skipping = false;
              continue;
            }
            skipping = false;
            yield e;
            continue;
          }
          await new Promise<void>((resolve) => (state.wake = resolve));
        }
      } finally {
        live.delete(state);
      }
    }
    const iterator = events();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => {
        state.closed = true;
        state.wake();
      },
      [Symbol.dispose]: () => {
        state.closed = true;
        state.wake();
      },
    };
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

interface Run {
  listener: AnchorListener;
  anchored: ConfirmedAnchor[];
  alarms: EquivocationAlarm[];
  sleeps: number[];
  warnings: string[];
}

async function openListener(dir: string, source: FakeEventSource, extra: Partial<AnchorListenerOptions> = {}): Promise<Run> {
  const run: Omit<Run, 'listener'> = { anchored: [], alarms: [], sleeps: [], warnings: [] };
  const listener = await AnchorListener.open({
    dir,
    source,
    onAnchored: (a) => run.anchored.push(a),
    onEquivocation: (a) => run.alarms.push(a),
    sleep: async (ms) => void run.sleeps.push(ms),
    random: () => 1,
    logger: { warn: (_obj, msg) => run.warnings.push(msg ?? '') },
    ...extra,
  });
  return { ...run, listener };
}

describe('AnchorListener', () => {
  it('records each origin\'s latest committed anchor durably and checkpoints every event', async () => {
    const dir = freshDir();
    const source = new FakeEventSource();
    const { listener, anchored } = await openListener(dir, source);
    listener.start();
    source.push(anchoredEvent(5, 0, 3), anchoredEvent(6, 1, 7), anchoredEvent(6, 2, 4, 'other/log'));
    await until(() => listener.status().processed === 3, 'three events');

    assert.deepEqual(listener.confirmed(ORIGIN), {
      origin: ORIGIN,
      size: 7,
      rootHash: rootOf(7),
      sequence: 1,
      txId: txIdOf(1),
      blockNumber: 6,
      anchoredAt: new Date(Date.UTC(2025, 0, 1, 0, 0, 1)).toISOString(),
    });
    assert.equal(listener.confirmed('other/log')?.size, 4);
    assert.equal(listener.confirmed('nobody'), undefined);
    assert.deepEqual(anchored.map((a) => [a.origin, a.size]), [[ORIGIN, 3], [ORIGIN, 7], ['other/log', 4]]);

    const onDisk = JSON.parse(readFileSync(join(dir, CONFIRMED_FILE), 'utf8'));
    assert.equal(onDisk.format, 'custodian-fabric-confirmed/v1');
    assert.equal(onDisk.origins[ORIGIN].size, 7);
    assert.equal(onDisk.origins[ORIGIN].blockNumber, 6);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, EVENTS_CHECKPOINT_FILE), 'utf8')), { blockNumber: '6', transactionId: txIdOf(2) });
    assert.equal(listener.status().connected, true);
    await listener.close();
    assert.equal(source.openStreams, 0, 'close() closed the stream');
  });

  it('resumes after the last processed event on restart, without processing anything twice', async () => {
    const dir = freshDir();
    const source = new FakeEventSource();
    source.push(anchoredEvent(5, 0, 3), anchoredEvent(6, 1, 7), anchoredEvent(6, 2, 8));
    const first = await openListener(dir, source, { startBlock: 0n });
    first.listener.start();
    await until(() => first.listener.status().processed === 3, 'the history');
    await first.listener.close();

    const second = await openListener(dir, source);
    assert.equal(second.listener.confirmed(ORIGIN)?.size, 8, 'the confirmed anchors are read back before listening');
    second.listener.start();
    await until(() => source.opens.length === 2, 'the reopened stream');
    assert.deepEqual(source.opens[1], { block: 6n, txId: txIdOf(2), startBlock: 0n }, 'asked to resume after the checkpointed event');
    source.push(anchoredEvent(9, 3, 12));
    await until(() => second.listener.status().processed === 1, 'the new event');
    assert.deepEqual(second.anchored.map((a) => a.size), [12], 'only the new event was processed');
    assert.equal(second.listener.confirmed(ORIGIN)?.size, 12);
    await second.listener.close();
  });

  it('changes nothing for a re-delivered or older anchor (a crash between recording and checkpointing)', async () => {
    const dir = freshDir();
    const source = new FakeEventSource();
    source.push(anchoredEvent(5, 0, 3), anchoredEvent(6, 1, 7));
    const first = await openListener(dir, source);
    first.listener.start();
    await until(() => first.listener.status().processed === 2, 'the history');
    await first.listener.close();
    // The checkpoint lags behind the confirmed file, as it would after such a crash.
    writeFileSync(join(dir, EVENTS_CHECKPOINT_FILE), JSON.stringify({ blockNumber: '5', transactionId: txIdOf(0) }));
    const before = readFileSync(join(dir, CONFIRMED_FILE), 'utf8');

    const second = await openListener(dir, source);
    second.listener.start();
    await until(() => second.listener.status().processed === 1, 'the re-delivered event');
    assert.deepEqual(second.anchored, [], 'no anchor reported twice');
    assert.equal(second.listener.confirmed(ORIGIN)?.size, 7);
    assert.equal(readFileSync(join(dir, CONFIRMED_FILE), 'utf8'), before);
    await second.listener.close();
  });

  it('raises an alarm for an Equivocation event, with the evidence or, unreadable, its raw payload', async () => {
    const source = new FakeEventSource();
    const { listener, alarms } = await openListener(freshDir(), source);
    listener.start();
    const garbled: ChaincodeEvent = { ...equivocationEvent(8, 5, 4), transactionId: txIdOf(6), payload: Buffer.from('{"origin":') };
    source.push(equivocationEvent(7, 4, 4), garbled);
    await until(() => alarms.length === 2, 'two alarms');
    assert.equal(alarms[0].evidence?.size, 4);
    assert.equal(alarms[0].evidence?.offeredRoot, rootOf(4, 'forged'));
    assert.equal(alarms[0].txId, txIdOf(4));
    assert.equal(alarms[0].blockNumber, 7);
    assert.equal(alarms[1].evidence, undefined);
    assert.equal(alarms[1].payload, '{"origin":');
    assert.equal(listener.confirmed(ORIGIN), undefined, 'equivocation confirms nothing');
    await listener.close();
  });

  it('reconnects with backoff when the stream cannot be opened or breaks, resuming from its checkpoint', async () => {
    const source = new FakeEventSource();
    source.openFailures.push(unavailable(), unavailable());
    const run = await openListener(freshDir(), source);
    run.listener.start();
    source.push(anchoredEvent(5, 0, 3));
    await until(() => run.listener.status().processed === 1, 'the first event after two failed opens');
    assert.deepEqual(run.sleeps, [200, 400], 'exponential backoff between tries');
    assert.equal(run.warnings.filter((w) => /reconnecting/.test(w)).length, 2);

    source.breakStreams(unavailable());
    await until(() => source.opens.length === 4, 'the reconnection after the break');
    assert.deepEqual(source.opens[3], { block: 5n, txId: txIdOf(0), startBlock: 0n });
    assert.equal(run.sleeps.at(-1), 200, 'the backoff starts over after a processed event');
    source.push(anchoredEvent(6, 1, 7));
    await until(() => run.listener.status().processed === 2, 'the event after the break');
    assert.deepEqual(run.anchored.map((a) => a.size), [3, 7], 'nothing lost, nothing repeated');
    assert.equal(run.listener.status().lastError, undefined);
    await run.listener.close();
  });

  it('skips an unreadable Anchored event with a warning and goes on', async () => {
    const source = new FakeEventSource();
    const run = await openListener(freshDir(), source);
    run.listener.start();
    const bad: ChaincodeEvent = { ...anchoredEvent(5, 0, 3), payload: Buffer.from('{"origin":"x"}') };
    const lying: ChaincodeEvent = { ...anchoredEvent(5, 1, 4), transactionId: txIdOf(99) };
    source.push(bad, lying, anchoredEvent(6, 2, 7));
    await until(() => run.listener.status().processed === 3, 'three events');
    assert.deepEqual(run.anchored.map((a) => a.size), [7]);
    assert.equal(run.warnings.filter((w) => /unreadable Anchored event/.test(w)).length, 2);
    await run.listener.close();
  });

  it('replaces a torn event checkpoint and replays from the start block', async () => {
    const dir = freshDir();
    const source = new FakeEventSource();
    source.push(anchoredEvent(5, 0, 3));
    const first = await openListener(dir, source);
    first.listener.start();
    await until(() => first.listener.status().processed === 1, 'the history');
    await first.listener.close();
    writeFileSync(join(dir, EVENTS_CHECKPOINT_FILE), '{"blockNumb');

    const second = await openListener(dir, source, { startBlock: 2n });
    assert.ok(second.warnings.some((w) => /unreadable event checkpoint/.test(w)));
    second.listener.start();
    await until(() => second.listener.status().processed === 1, 'the replayed event');
    assert.deepEqual(source.opens.at(-1), { block: undefined, txId: undefined, startBlock: 2n });
    assert.deepEqual(second.anchored, [], 'the replay confirmed nothing new');
    assert.equal(second.listener.confirmed(ORIGIN)?.size, 3);
    await second.listener.close();
  });

  it('keeps going when a callback throws, and close() ends a listener waiting to reconnect', async () => {
    const source = new FakeEventSource();
    let sleeping: (() => void) | undefined;
    const run = await openListener(freshDir(), source, {
      onAnchored: () => {
        throw new Error('callback bug');
      },
      sleep: () => new Promise<void>((resolve) => (sleeping = resolve)),
    });
    run.listener.start();
    source.push(anchoredEvent(5, 0, 3), anchoredEvent(6, 1, 7));
    await until(() => run.listener.status().processed === 2, 'both events despite the callback');
    assert.equal(run.listener.confirmed(ORIGIN)?.size, 7);
    source.breakStreams(unavailable());
    await until(() => sleeping !== undefined, 'a listener waiting to reconnect');
    assert.equal(run.listener.status().running, true);
    assert.match(run.listener.status().lastError?.message ?? '', /UNAVAILABLE/);
    await run.listener.close();
    assert.equal(run.listener.status().running, false);
    assert.equal(source.opens.length, 1, 'closed while waiting: never reopened');
  });
});
