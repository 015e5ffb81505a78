import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { AnchorContract } from '../../ledger-adapter/chaincode/src/anchor-contract.js';
import { chaincodeErrorCode } from '../../ledger-adapter/chaincode/src/chaincode-error.js';
import { anchorKey, equivocationKey, latestKey, logKey } from '../../ledger-adapter/chaincode/src/state-keys.js';
import { formatCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';
import { fromBase64Strict, toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { canonicalJson } from '../../ledger-adapter/src/merkle/canonical-json.js';
import { leafHash } from '../../ledger-adapter/src/merkle/hash.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { consistencyProof, rootAt } from '../../ledger-adapter/src/merkle/proofs.js';
import { runTransaction, type TransactionResponse } from '../support/fabric/run-transaction.js';
import { SimulatedStub, type SimulationResult } from '../support/fabric/simulated-stub.js';
import { WorldState } from '../support/fabric/world-state.js';

const ORIGIN = 'custodian.example/audit-log';
const BASE_TIME = Date.UTC(2025, 0, 1);

/** A Merkle log with a real Ed25519 key: signed checkpoints and consistency proofs at any size. */
class TestLog {
  readonly tree = new MemoryTree();

  constructor(
    readonly origin: string,
    leaves: number,
    readonly key: KeyObject = generateKeyPairSync('ed25519').privateKey,
    /** Leaves from this index on differ from those of a log built with another fork label. */
    fork: { at: number; label: string } = { at: leaves, label: '' },
  ) {
    for (let i = 0; i < leaves; i++) {
      this.tree.append(leafHash(Buffer.from(i < fork.at ? `leaf ${i}` : `${fork.label} leaf ${i}`)));
    }
  }

  get verifierKey(): string {
    return verifierKeyOf(this.origin, this.key);
  }

  root(size: number): Uint8Array {
    return rootAt(this.tree, size);
  }

  note(size: number, key: KeyObject = this.key): string {
    return signNote(formatCheckpoint({ origin: this.origin, size, rootHash: this.root(size) }), this.origin, key);
  }

  proof(from: number, to: number): string {
    return JSON.stringify(from === 0 ? [] : consistencyProof(this.tree, from, to).map(toBase64));
  }
}

interface Simulation {
  txId: string;
  response: TransactionResponse;
  result: SimulationResult;
}

/** A one-peer channel: simulate on the committed state, commit valid results in their own block. */
class Channel {
  readonly state = new WorldState();
  readonly contract = new AnchorContract();
  private block = 0;
  private tx = 0;

  async simulate(fcn: string, args: string[], opts: { mspId?: string; at?: Date; txId?: string } = {}): Promise<Simulation> {
    const n = ++this.tx;
    const txId = opts.txId ?? `tx-${n}`;
    const stub = new SimulatedStub({
      state: this.state,
      txId,
      timestamp: opts.at ?? new Date(BASE_TIME + n * 1000),
      channel: 'custodian',
      mspId: opts.mspId ?? 'Org1MSP',
      fcn,
      args,
    });
    const response = await runTransaction(this.contract, stub, fcn, args);
    return { txId, response, result: stub.result() };
  }

  commit(s: Simulation): void {
    assert.deepEqual(this.state.staleKeys(s.result.reads), [], 'MVCC: the read set is current');
    this.state.apply(s.result.writes, { blockNum: ++this.block, txNum: 0 });
  }

  /** Simulates and commits when the chaincode succeeded. */
  async submit(fcn: string, args: string[], opts: { mspId?: string; at?: Date; txId?: string } = {}): Promise<Simulation> {
    const s = await this.simulate(fcn, args, opts);
    if (s.response.status === 200) this.commit(s);
    return s;
  }

  async query(fcn: string, args: string[]): Promise<unknown> {
    const s = await this.simulate(fcn, args);
    assert.equal(s.response.status, 200, s.response.message);
    assert.equal(s.result.writes.size, 0, 'a query writes nothing');
    return JSON.parse(text(s.response.payload));
  }

  async register(log: TestLog, mspId = 'Org1MSP'): Promise<Simulation> {
    return ok(await this.submit('RegisterLog', [log.origin, log.verifierKey], { mspId }));
  }

  async anchor(log: TestLog, size: number, previous: number, opts: { mspId?: string; at?: Date } = {}): Promise<Simulation> {
    return this.submit('AnchorCheckpoint', [log.note(size), String(previous), log.proof(previous, size)], opts);
  }
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const json = (b: Uint8Array): Record<string, unknown> => JSON.parse(text(b)) as Record<string, unknown>;

function ok(s: Simulation): Simulation {
  assert.equal(s.response.status, 200, `expected success, got: ${s.response.message}`);
  return s;
}

function refused(s: Simulation, code: string, message?: RegExp | string): void {
  assert.equal(s.response.status, 500, `expected [${code}], got success: ${text(s.response.payload)}`);
  assert.ok(s.response.message.startsWith(`[${code}]`), `expected [${code}], got: ${s.response.message}`);
  assert.equal(chaincodeErrorCode(s.response.message), code);
  if (typeof message === 'string') assert.equal(s.response.message, message);
  else if (message) assert.match(s.response.message, message);
  assert.equal(s.result.writes.size, 0, 'a refused transaction leaves nothing to commit');
  assert.equal(s.result.event, undefined);
}

/** The payload of the transaction's event, which must be `name`. */
function eventOf(s: Simulation, name: string): string {
  const e = s.result.event;
  assert.ok(e, 'the transaction set an event');
  assert.equal(e.name, name);
  return text(e.payload);
}

/** The payload is RFC 8785: re-canonicalising it with the project's canonicalizer changes nothing. */
function assertCanonical(payload: Uint8Array): void {
  const t = text(payload);
  assert.equal(canonicalJson(JSON.parse(t)), t);
}

describe('AnchorContract: RegisterLog', () => {
  it('records the key, the registering MSP and the transaction time, under log/<hex origin>', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 4);
    const at = new Date('2030-02-03T04:05:06.789Z');
    const s = ok(await ch.submit('RegisterLog', [ORIGIN, log.verifierKey], { at }));
    const expected = { origin: ORIGIN, verifierKey: log.verifierKey, mspId: 'Org1MSP', registeredAt: '2030-02-03T04:05:06.789Z' };
    assert.deepEqual(json(s.response.payload), expected);
    assertCanonical(s.response.payload);
    assert.deepEqual([...s.result.writes.keys()], [logKey(ORIGIN)]);
    assert.equal(logKey(ORIGIN), `log/${Buffer.from(ORIGIN).toString('hex')}`);
    assert.deepEqual(await ch.query('GetLog', [ORIGIN]), expected);
  });

  it('is idempotent for the identical key, whoever asks, and writes nothing the second time', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 4);
    const first = await ch.register(log);
    const again = ok(await ch.simulate('RegisterLog', [ORIGIN, log.verifierKey], { mspId: 'Org2MSP' }));
    assert.deepEqual(again.response.payload, first.response.payload);
    assert.equal(again.result.writes.size, 0);
  });

  it('refuses another key for a registered origin with KEY_MISMATCH', async () => {
    const ch = new Channel();
    await ch.register(new TestLog(ORIGIN, 4));
    const impostor = new TestLog(ORIGIN, 4);
    refused(await ch.simulate('RegisterLog', [ORIGIN, impostor.verifierKey]), 'KEY_MISMATCH');
  });

  it('refuses a key whose name is not the origin, and a malformed key', async () => {
    const ch = new Channel();
    const other = new TestLog('other.example/log', 1);
    refused(await ch.simulate('RegisterLog', [ORIGIN, other.verifierKey]), 'INVALID_ARGUMENT', /not the origin/);
    refused(await ch.simulate('RegisterLog', [ORIGIN, `${ORIGIN}+00000000+AAAA`]), 'INVALID_ARGUMENT', /verifier key/);
    refused(await ch.simulate('RegisterLog', ['', other.verifierKey]), 'INVALID_ARGUMENT');
    assert.equal(await ch.query('GetLog', [ORIGIN]), null);
  });
});

describe('AnchorContract: AnchorCheckpoint', () => {
  it('anchors a first checkpoint: record, keys, latest pointer, Anchored event, canonical JSON', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 5);
    await ch.register(log);
    const at = new Date('2031-05-06T07:08:09.123Z');
    const s = ok(await ch.anchor(log, 5, 0, { at }));
    const record = {
      origin: ORIGIN,
      size: 5,
      rootHash: toBase64(log.root(5)),
      note: log.note(5),
      sequence: 0,
      txId: s.txId,
      anchoredAt: '2031-05-06T07:08:09.123Z',
      mspId: 'Org1MSP',
    };
    assert.deepEqual(json(s.response.payload), { status: 'anchored', ...record });
    assertCanonical(s.response.payload);
    assert.deepEqual([...s.result.writes.keys()].sort(), [anchorKey(ORIGIN, 5), latestKey(ORIGIN)].sort());
    assert.equal(anchorKey(ORIGIN, 5), `anchor/${Buffer.from(ORIGIN).toString('hex')}/0000000000000005`);
    assert.deepEqual(json(s.result.writes.get(anchorKey(ORIGIN, 5)) as Uint8Array), record);
    assert.deepEqual(json(s.result.writes.get(latestKey(ORIGIN)) as Uint8Array), { size: 5, rootHash: record.rootHash, sequence: 0 });
    assert.equal(eventOf(s, 'Anchored'), canonicalJson(record));
    assert.deepEqual(await ch.query('GetLatest', [ORIGIN]), record);
  });

  it('chains anchors with real consistency proofs, numbering them per origin', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 40);
    const other = new TestLog('custodian.example/versions', 3);
    await ch.register(log);
    await ch.register(other);
    ok(await ch.anchor(other, 3, 0));
    const sizes = [5, 8, 13, 32, 33, 40];
    let previous = 0;
    for (const [i, size] of sizes.entries()) {
      const s = ok(await ch.anchor(log, size, previous));
      assert.equal(json(s.response.payload).sequence, i);
      assert.equal(json(s.response.payload).rootHash, toBase64(log.root(size)));
      previous = size;
    }
    assert.equal((await ch.query('GetLatest', [ORIGIN]) as { size: number }).size, 40);
    assert.equal((await ch.query('GetLatest', [other.origin]) as { sequence: number }).sequence, 0);
  });

  it('needs an empty proof and previousSize 0 for the first anchor', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 8);
    await ch.register(log);
    refused(await ch.simulate('AnchorCheckpoint', [log.note(8), '0', log.proof(4, 8)]), 'BAD_CONSISTENCY_PROOF');
    refused(await ch.simulate('AnchorCheckpoint', [log.note(8), '4', log.proof(4, 8)]), 'STALE_PREVIOUS', '[STALE_PREVIOUS] latest=0');
  });

  it('returns the existing record for a replay and writes nothing, even below the latest size', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 13);
    await ch.register(log);
    const first = ok(await ch.anchor(log, 8, 0));
    ok(await ch.anchor(log, 13, 8));
    for (const [previous, proof] of [['13', '[]'], ['0', '[]'], ['8', log.proof(8, 13)]]) {
      const replay = ok(await ch.simulate('AnchorCheckpoint', [log.note(8), previous, proof]));
      assert.deepEqual(json(replay.response.payload), json(first.response.payload));
      assert.equal(replay.result.writes.size, 0);
      assert.equal(replay.result.event, undefined);
    }
  });

  it('records equivocation: the transaction succeeds, evidence and event, the anchor unchanged', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 13);
    const fork = new TestLog(ORIGIN, 13, log.key, { at: 6, label: 'rewritten' });
    assert.notDeepEqual(fork.root(8), log.root(8));
    await ch.register(log);
    const anchored = ok(await ch.anchor(log, 8, 0));
    ok(await ch.anchor(log, 13, 8));
    const latestBefore = await ch.query('GetLatest', [ORIGIN]);

    const s = ok(await ch.submit('AnchorCheckpoint', [fork.note(8), '13', '[]'], { mspId: 'Org1MSP' }));
    const evidence = {
      origin: ORIGIN,
      size: 8,
      anchoredRoot: toBase64(log.root(8)),
      anchoredNote: log.note(8),
      anchoredTxId: anchored.txId,
      offeredRoot: toBase64(fork.root(8)),
      offeredNote: fork.note(8),
      reportedTxId: s.txId,
      reportedAt: json(s.response.payload).reportedAt,
      mspId: 'Org1MSP',
    };
    assert.deepEqual(json(s.response.payload), { status: 'equivocation', ...evidence });
    assertCanonical(s.response.payload);
    const key = equivocationKey(ORIGIN, 8, fork.root(8));
    assert.deepEqual([...s.result.writes.keys()], [key]);
    assert.equal(key, `equivocation/${Buffer.from(ORIGIN).toString('hex')}/0000000000000008/${Buffer.from(fork.root(8)).toString('hex')}`);
    assert.equal(eventOf(s, 'Equivocation'), canonicalJson(evidence));
    assert.deepEqual(await ch.query('GetAnchor', [ORIGIN, '8']), json(ch.state.get(anchorKey(ORIGIN, 8))?.value as Uint8Array));
    assert.equal((await ch.query('GetAnchor', [ORIGIN, '8']) as { rootHash: string }).rootHash, toBase64(log.root(8)));
    assert.deepEqual(await ch.query('GetLatest', [ORIGIN]), latestBefore);

    // Reported again: the first evidence stands (write-once), the alarm is raised again.
    const again = ok(await ch.simulate('AnchorCheckpoint', [fork.note(8), '0', '[]']));
    assert.equal(again.result.writes.size, 0);
    assert.deepEqual(json(again.response.payload), { status: 'equivocation', ...evidence });
    assert.equal(eventOf(again, 'Equivocation'), canonicalJson(evidence));
  });

  it('refuses a size below the latest anchored one with OUT_OF_ORDER latest=<n>', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 32);
    await ch.register(log);
    ok(await ch.anchor(log, 8, 0));
    ok(await ch.anchor(log, 32, 8));
    refused(await ch.simulate('AnchorCheckpoint', [log.note(20), '8', log.proof(8, 20)]), 'OUT_OF_ORDER', '[OUT_OF_ORDER] latest=32');
  });

  it('refuses a stale previousSize with STALE_PREVIOUS latest=<n>, even with a valid proof from it', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 40);
    await ch.register(log);
    ok(await ch.anchor(log, 13, 0));
    ok(await ch.anchor(log, 32, 13));
    refused(await ch.simulate('AnchorCheckpoint', [log.note(40), '13', log.proof(13, 40)]), 'STALE_PREVIOUS', '[STALE_PREVIOUS] latest=32');
    refused(await ch.simulate('AnchorCheckpoint', [log.note(40), '33', log.proof(32, 40)]), 'STALE_PREVIOUS', '[STALE_PREVIOUS] latest=32');
    ok(await ch.anchor(log, 40, 32));
  });

  it('refuses a note not signed by the registered key, or altered after signing, with BAD_SIGNATURE', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 8);
    await ch.register(log);
    const stranger = generateKeyPairSync('ed25519').privateKey;
    refused(await ch.simulate('AnchorCheckpoint', [log.note(8, stranger), '0', '[]']), 'BAD_SIGNATURE');
    const note = log.note(8);
    const tampered = note.replace(`\n${toBase64(log.root(8))}\n`, `\n${toBase64(log.root(7))}\n`);
    assert.notEqual(tampered, note);
    refused(await ch.simulate('AnchorCheckpoint', [tampered, '0', '[]']), 'BAD_SIGNATURE');
    const resized = note.replace(`${ORIGIN}\n8\n`, `${ORIGIN}\n9\n`);
    refused(await ch.simulate('AnchorCheckpoint', [resized, '0', '[]']), 'BAD_SIGNATURE');
    ok(await ch.anchor(log, 8, 0));
  });

  it('refuses a consistency proof with a wrong hash or a wrong length with BAD_CONSISTENCY_PROOF', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 13);
    await ch.register(log);
    ok(await ch.anchor(log, 5, 0));
    const proof = consistencyProof(log.tree, 5, 13);
    assert.ok(proof.length >= 2);
    const flipped = proof.map((h, i) => (i === 1 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h));
    for (const bad of [flipped, proof.slice(0, -1), [...proof, proof[0]], []]) {
      refused(
        await ch.simulate('AnchorCheckpoint', [log.note(13), '5', JSON.stringify(bad.map(toBase64))]),
        'BAD_CONSISTENCY_PROOF',
      );
    }
    ok(await ch.anchor(log, 13, 5));
  });

  it('refuses an anchor from an MSP other than the registering one with FORBIDDEN', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 5);
    await ch.register(log, 'Org1MSP');
    refused(await ch.anchor(log, 5, 0, { mspId: 'Org2MSP' }), 'FORBIDDEN');
    ok(await ch.anchor(log, 5, 0, { mspId: 'Org1MSP' }));
  });

  it('refuses an unregistered log with UNKNOWN_LOG', async () => {
    const ch = new Channel();
    refused(await ch.anchor(new TestLog(ORIGIN, 5), 5, 0), 'UNKNOWN_LOG');
  });

  it('refuses size 0 and malformed arguments with INVALID_ARGUMENT', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 5);
    await ch.register(log);
    const note = log.note(5);
    const cases: string[][] = [
      [log.note(0), '0', '[]'],
      [note, '05', '[]'],
      [note, '-1', '[]'],
      [note, '1e3', '[]'],
      [note, '99999999999999999', '[]'],
      [note, '0', 'not json'],
      [note, '0', '{}'],
      [note, '0', '["AAAA"]'],
      [note, '0', '[1]'],
      ['no origin line', '0', '[]'],
      ['\n5\n', '0', '[]'],
      ['x'.repeat(70_000), '0', '[]'],
    ];
    for (const args of cases) refused(await ch.simulate('AnchorCheckpoint', args), 'INVALID_ARGUMENT');
  });
});

describe('AnchorContract: queries', () => {
  async function anchoredChannel(): Promise<{ ch: Channel; log: TestLog }> {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 40);
    // Its hex is the hex of ORIGIN followed by more digits: ranges must not spill into it.
    const neighbour = new TestLog(`${ORIGIN}2`, 3);
    await ch.register(log);
    await ch.register(neighbour);
    let previous = 0;
    for (const size of [5, 8, 13, 32]) {
      ok(await ch.anchor(log, size, previous));
      previous = size;
    }
    ok(await ch.anchor(neighbour, 3, 0));
    return { ch, log };
  }

  const sizesOf = (v: unknown): number[] => (v as Array<{ size: number; origin: string }>).map((r) => {
    assert.equal(r.origin, ORIGIN);
    return r.size;
  });

  it('GetAnchor returns the record of exactly that size, or null', async () => {
    const { ch, log } = await anchoredChannel();
    const r = (await ch.query('GetAnchor', [ORIGIN, '13'])) as { size: number; rootHash: string };
    assert.equal(r.size, 13);
    assert.equal(r.rootHash, toBase64(log.root(13)));
    assert.equal(await ch.query('GetAnchor', [ORIGIN, '12']), null);
    assert.equal(await ch.query('GetAnchor', ['nobody.example/log', '13']), null);
  });

  it('GetLatest and GetLog answer null for an unknown origin', async () => {
    const { ch } = await anchoredChannel();
    assert.equal(await ch.query('GetLatest', ['nobody.example/log']), null);
    assert.equal(await ch.query('GetLog', ['nobody.example/log']), null);
    assert.equal((await ch.query('GetLatest', [ORIGIN]) as { size: number }).size, 32);
  });

  it('GetRange includes both bounds, ascends, honours the limit and an open upper bound', async () => {
    const { ch } = await anchoredChannel();
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '8', '13', '10'])), [8, 13]);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '6', '31', '10'])), [8, 13]);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '0', '', '10'])), [5, 8, 13, 32]);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '0', '', '2'])), [5, 8]);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '14', '', '1'])), [32]);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '33', '', '10'])), []);
    assert.deepEqual(sizesOf(await ch.query('GetRange', [ORIGIN, '0', String(Number.MAX_SAFE_INTEGER), '10'])), [5, 8, 13, 32]);
    const s = ok(await ch.simulate('GetRange', [ORIGIN, '0', '', '10']));
    assertCanonical(s.response.payload);
  });

  it('GetRange refuses bad bounds and limits', async () => {
    const { ch } = await anchoredChannel();
    refused(await ch.simulate('GetRange', [ORIGIN, '13', '8', '10']), 'INVALID_ARGUMENT');
    refused(await ch.simulate('GetRange', [ORIGIN, '0', '', '0']), 'INVALID_ARGUMENT');
    refused(await ch.simulate('GetRange', [ORIGIN, '0', '', '-1']), 'INVALID_ARGUMENT');
    refused(await ch.simulate('GetRange', [ORIGIN, 'x', '', '1']), 'INVALID_ARGUMENT');
  });

  it('GetRange returns at most 1000 records whatever the limit asks', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 1001);
    await ch.register(log);
    for (let size = 1; size <= 1001; size++) ok(await ch.anchor(log, size, size - 1));
    const all = sizesOf(await ch.query('GetRange', [ORIGIN, '0', '', '5000']));
    assert.equal(all.length, 1000);
    assert.deepEqual(all.slice(0, 2), [1, 2]);
    assert.equal(all[999], 1000);
  });
});

describe('AnchorContract: determinism and read sets', () => {
  it('gives byte-identical write sets, payloads and events for the same transaction', async () => {
    const runs: Simulation[][] = [];
    const key = generateKeyPairSync('ed25519').privateKey;
    for (let run = 0; run < 2; run++) {
      const ch = new Channel();
      const log = new TestLog(ORIGIN, 13, key);
      const fork = new TestLog(ORIGIN, 13, key, { at: 3, label: 'x' });
      runs.push([
        await ch.register(log),
        ok(await ch.anchor(log, 5, 0)),
        ok(await ch.anchor(log, 13, 5)),
        ok(await ch.submit('AnchorCheckpoint', [fork.note(5), '13', '[]'])),
      ]);
      // Simulating again on the same state, as a second endorser would, gives the same bytes.
      const endorsers = [0, 1].map(() => ch.simulate('AnchorCheckpoint', [fork.note(13), '13', '[]'], { txId: 'tx-same', at: new Date(BASE_TIME) }));
      const [a, b] = await Promise.all(endorsers);
      assert.deepEqual(a.response, b.response);
      assert.deepEqual(a.result, b.result);
    }
    const [first, second] = runs;
    for (let i = 0; i < first.length; i++) {
      assert.deepEqual(second[i].response, first[i].response);
      assert.deepEqual([...second[i].result.writes], [...first[i].result.writes]);
      assert.deepEqual(second[i].result.event, first[i].result.event);
    }
  });

  it('reads the registration, the exact size and the latest pointer, so concurrent anchors conflict', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 20);
    await ch.register(log);
    ok(await ch.anchor(log, 5, 0));
    const a = ok(await ch.simulate('AnchorCheckpoint', [log.note(8), '5', log.proof(5, 8)]));
    const b = ok(await ch.simulate('AnchorCheckpoint', [log.note(13), '5', log.proof(5, 13)]));
    const latestVersion = ch.state.get(latestKey(ORIGIN))?.version;
    assert.ok(latestVersion);
    assert.deepEqual(a.result.reads.get(latestKey(ORIGIN)), latestVersion);
    assert.deepEqual(a.result.reads.get(logKey(ORIGIN)), ch.state.get(logKey(ORIGIN))?.version);
    assert.equal(a.result.reads.get(anchorKey(ORIGIN, 8)), null);
    assert.deepEqual(json(b.response.payload).sequence, 1);
    ch.commit(a);
    // b was endorsed against the pointer a replaced: MVCC invalidates it instead of forking the chain.
    assert.deepEqual(ch.state.staleKeys(b.result.reads), [latestKey(ORIGIN)]);
    refused(await ch.simulate('AnchorCheckpoint', [log.note(13), '5', log.proof(5, 13)]), 'STALE_PREVIOUS', '[STALE_PREVIOUS] latest=8');
    ok(await ch.anchor(log, 13, 8));
  });

  it('concurrent first anchors of one log conflict on the absent latest pointer', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 8);
    await ch.register(log);
    const a = ok(await ch.simulate('AnchorCheckpoint', [log.note(5), '0', '[]']));
    const b = ok(await ch.simulate('AnchorCheckpoint', [log.note(8), '0', '[]']));
    assert.equal(b.result.reads.get(latestKey(ORIGIN)), null);
    ch.commit(a);
    assert.deepEqual(ch.state.staleKeys(b.result.reads), [latestKey(ORIGIN)]);
  });

  it('takes anchoredAt from the transaction timestamp, not the clock', async () => {
    const ch = new Channel();
    const log = new TestLog(ORIGIN, 5);
    await ch.register(log);
    const at = new Date('1999-12-31T23:59:59.999Z');
    const s = ok(await ch.anchor(log, 5, 0, { at }));
    assert.equal(json(s.response.payload).anchoredAt, '1999-12-31T23:59:59.999Z');
    assert.equal(JSON.parse(eventOf(s, 'Anchored')).anchoredAt, '1999-12-31T23:59:59.999Z');
    const root = fromBase64Strict(json(s.response.payload).rootHash);
    assert.deepEqual(root && Buffer.from(root), Buffer.from(log.root(5)));
  });
});
